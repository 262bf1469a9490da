"""Lease renewal and the worker's heartbeat, on a thread of its own (DESIGN I4).

The graphs run on the worker's event loop, and a node may block it: a synchronous
``time.sleep`` or a CPU-bound step inside an async node. If the heartbeat shared that loop, a
healthy run would look dead, another process would re-queue it, and its step would run twice.
So the leases are renewed by this thread, with its own event loop and its own connection:
one statement per tick (``workers.beat``) that heartbeats the worker's row, renews the
leases of the attempts this worker is executing now, each fenced by its lease token, and
re-queues the runs of dead workers. A run that no task executes any more (whatever went
wrong) is not renewed, so its lease expires and it is re-queued; an attempt whose renewal
is refused (its run was re-queued or taken over) is reported to the pool (``on_lost``),
which stops it.

The tick is every ``workers.timing(lease)[0]`` seconds (at most 1 s), so a SIGKILLed
worker is judged dead a few seconds after its last heartbeat, whatever the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from app.db import workers as worker_rows
from app.db.loops import MAX_PAUSE, Health
from app.db.urls import plain_url

log = logging.getLogger("turnstile.worker")

Held = tuple[tuple[uuid.UUID, uuid.UUID], ...]
"""(run id, lease token) of each attempt this worker executes."""


class LeaseKeeper:
    health: Health | None = None
    """Where the renewal loop reports its failures (the pool sets its hub's)."""

    def __init__(self, database_url: str, worker: worker_rows.Worker, lease_seconds: float) -> None:
        self.database_url = database_url
        self.worker = worker
        self.owner = worker.worker_id
        self.lease_seconds = lease_seconds
        self.interval, self.dead_after = worker_rows.timing(lease_seconds)
        self.held: Held = ()
        """The attempts this worker is executing now (replaced whole by the pool; read
        here)."""
        self.on_lost: Callable[[Held], None] | None = None
        """Called (on this thread) with the attempts whose renewal was refused."""
        self._steady_since: float | None = None
        """Monotonic time since when every tick succeeded, none more than ``dead_after``
        after the previous one; None after a failure."""
        self._last_ok = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="turnstile-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _main(self) -> None:
        """Renew every ``interval`` until stopped. Any failure is logged and recorded (loop
        ``leases`` in ``health``), the connection is dropped, and the renewal is retried
        after a backoff pause (0.1 s doubling, at most ``interval``) that ends at once when
        another loop of the process sees the database back."""
        loop = asyncio.new_event_loop()
        conn: asyncpg.Connection[Any] | None = None
        health = self.health or Health()
        guard = health.guard("leases", cap=min(MAX_PAUSE, self.interval))
        try:
            while not self._stop.wait(self.interval):
                while not self._stop.is_set():
                    try:
                        conn = loop.run_until_complete(self._renew(conn))
                    except Exception as exc:  # the thread must go on, whatever the error
                        if conn is not None:
                            conn.terminate()  # it may be broken mid-operation: a fresh one
                        conn = None
                        health.pause_thread(min(guard.failed(exc), self.interval), self._stop)
                    else:
                        guard.succeeded()
                        break
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.wait_for(conn.close(), 5))
            loop.close()

    def may_judge(self, now: float) -> bool:
        """Whether this worker may judge others dead now: it has heartbeated steadily for
        ``dead_after`` seconds (after a database outage or restart every heartbeat is stale
        at once; live workers get that long to come back before anyone is judged)."""
        return self._steady_since is not None and now - self._steady_since >= self.dead_after

    async def _renew(self, conn: asyncpg.Connection[Any] | None) -> asyncpg.Connection[Any]:
        try:
            if conn is None or conn.is_closed():
                self._steady_since = None
                # No statement cache: one statement per tick gains nothing from it, and the
                # URL may lead through a transaction-mode pooler (app.db.pool).
                conn = await asyncpg.connect(plain_url(self.database_url), statement_cache_size=0)
            held = self.held
            judge = self.may_judge(time.monotonic())
            beat = await worker_rows.beat(
                conn,
                self.worker,
                lease_seconds=self.lease_seconds,
                held=list(held),
                judge_dead_after=self.dead_after if judge else None,
            )
        except BaseException:
            self._steady_since = None
            if conn is not None and not conn.is_closed():
                conn.terminate()  # a connection opened here would leak otherwise
            raise
        now = time.monotonic()
        if self._steady_since is None or now - self._last_ok > self.dead_after:
            self._steady_since = now  # first beat, or after a gap (paused, stalled)
        self._last_ok = now
        if beat.inserted:  # the pool registered it at start
            log.warning("worker %s: its row had vanished; registered again", self.owner)
        if beat.requeued:
            log.info(
                "re-queued %d runs of dead workers: %s",
                len(beat.requeued),
                ", ".join(map(str, beat.requeued)),
            )
        lost = tuple(pair for pair in held if pair[0] not in beat.held)
        if lost and self.on_lost is not None:
            self.on_lost(lost)
        return conn
