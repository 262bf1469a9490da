"""A worker pool: claim, run, renew leases, recover, hand back (DESIGN I4, I5).

One dispatcher claims pending runs with ``FOR UPDATE SKIP LOCKED`` whenever a slot is free
and is woken at once by the hub (a local signal after commit, or NOTIFY from another
process); the timed wait is only a fallback. Leases are renewed by ``LeaseKeeper`` on a
thread of its own, so a node that blocks the event loop does not make its run look dead.

Housekeeping runs on a timer in every process, but each job's tick is taken through
``periodic_jobs``, so it runs in exactly one process per tick: re-queue runs whose lease
expired (they resume from their checkpoint), delete abandoned stateless threads, delete
stream events past their time. A housekeeping loop also picks up cancel requests this
worker may have missed.

Each pool registers a row in the ``workers`` table at start, heartbeats it from its lease
keeper and deletes it on a graceful stop. Liveness of a lease owner comes from that row, not
from ``host:pid`` (pids repeat across pid namespaces): the keeper of every live worker
re-queues the runs of workers whose heartbeat stopped (``app.db.workers.beat``), so a
SIGKILLed worker's runs come back within seconds instead of a lease period.

Every loop here (dispatch, housekeeping, crons, and the lease keeper's thread) survives any
exception but cancellation (``app.db.loops``): it logs, records itself down in the hub's
``health`` (``/ok`` answers 503 meanwhile), backs off and resumes; the first loop to reach the
database again wakes the others, and the LISTEN connection's catch-up wakes the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from app.core.versions import installed
from app.db import events as event_rows
from app.db import periodic
from app.db import runs as run_rows
from app.db import store as store_rows
from app.db import threads as thread_rows
from app.db import workers as worker_rows
from app.db.loops import forever
from app.db.notify import RUN_READY, Hub, notify
from app.db.pool import create_pool
from app.observability import metrics
from app.services.crons import CronService
from app.services.threads import ThreadService
from app.worker import observed
from app.worker.claimed import ClaimedRun
from app.worker.executor import Executor
from app.worker.lease import LeaseKeeper

log = logging.getLogger("turnstile.worker")

FALLBACK_POLL_SECONDS = 2.0
CRON_POLL_SECONDS = 1.0
HOST = socket.gethostname()


class WorkerPool:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        executor: Executor,
        hub: Hub,
        *,
        crons: CronService,
        database_url: str,
        concurrency: int,
        lease_seconds: float = 30.0,
        stream_ttl_seconds: float = 120.0,
        pooler: bool = False,
        threads: ThreadService | None = None,
        thread_sweep_seconds: float | None = None,
        store_sweep_seconds: float = 60.0,
    ) -> None:
        self.pool = pool
        self.executor = executor
        self.hub = hub
        self.crons = crons
        self.threads = threads or ThreadService(pool)
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds
        self.tick_seconds = max(lease_seconds / 3, 0.2)
        self.stream_ttl_seconds = stream_ttl_seconds
        self.thread_sweep_seconds = thread_sweep_seconds or self.tick_seconds
        """How often threads past their TTL are swept (``checkpointer.ttl``)."""
        self.store_sweep_seconds = store_sweep_seconds
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        """This pool's lease owner name and ``workers`` row id: random per pool, so no
        other process (another pid namespace with the same host and pid) shares it."""
        self.worker = worker_rows.Worker(self.owner, HOST, os.getpid(), installed("turnstile"))
        self.leases = LeaseKeeper(database_url, self.worker, lease_seconds)
        self.database_url = database_url
        self.pooler = pooler
        """``database_url`` leads through a transaction-mode pooler (app.db.pool)."""
        self.relaxed: asyncpg.Pool[Any] | None = None
        """Connections that commit without waiting for the WAL flush: claims and the
        batches of runs (app.db.pool.create_pool)."""
        self._running: dict[uuid.UUID, tuple[ClaimedRun, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._saturated = False
        self._timed_out = True

    @property
    def active(self) -> int:
        """Runs this pool is executing now."""
        return len(self._running)

    async def start(self) -> None:
        self.relaxed = await create_pool(
            self.database_url,
            min_size=1,
            max_size=self.concurrency + 2,
            relaxed=True,
            pooler=self.pooler,
        )
        self.executor.relaxed = self.relaxed
        self.hub.on_cancel(self._cancel)
        await self._register()
        loop = asyncio.get_running_loop()

        def on_lost(lost: tuple[tuple[uuid.UUID, uuid.UUID], ...]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing to stop
                loop.call_soon_threadsafe(self._lost, lost)  # called on the keeper's thread

        self.leases.on_lost = on_lost
        self.leases.health = self.hub.health
        self.leases.start()
        metrics.worker_slots(self.concurrency, 0)
        self.executor.webhooks.start()
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="turnstile-dispatch"),
            asyncio.create_task(self._housekeeping(), name="turnstile-housekeeping"),
            asyncio.create_task(self._scheduler(), name="turnstile-crons"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let running runs finish within ``grace``, then hand them back
        (as ``pending``, not counted as an attempt)."""
        self._stopping = True
        self.hub.run_ready.set()  # the dispatcher ends its loop, never mid-claim
        dispatch, *others = self._tasks
        for task in others:  # transactional housekeeping: cancelling it rolls back
            task.cancel()
        for task in others:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await dispatch
        pending = [t for _, t in self._running.values()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for run, task in list(self._running.values()):
                if task in still:
                    run.shutdown = True
                    if run.cancellable:  # not started: it hands back at start
                        task.cancel()
            if still:
                await asyncio.wait(still, timeout=10)
        await asyncio.to_thread(self.leases.stop)
        metrics.worker_slots(0, 0)
        await self.executor.webhooks.stop()
        await self._deregister()
        if self.relaxed is not None:
            await self.relaxed.close()

    async def _register(self) -> None:
        """This pool's ``workers`` row, before it claims anything: from now on other
        workers see it alive (its keeper heartbeats it). Recovering the runs of dead
        workers is the keepers' job (``app.db.workers.beat``)."""
        async with self.pool.acquire() as conn:
            await worker_rows.register(conn, self.worker)

    async def _deregister(self) -> None:
        """Graceful stop: delete this pool's row (its runs ended or were handed back). If
        that fails the row goes stale, and its runs, if any, are recovered as a dead
        worker's."""
        try:
            async with self.pool.acquire() as conn:
                await worker_rows.deregister(conn, self.owner)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not delete worker row %s: %s", self.owner, exc)

    def _lost(self, lost: tuple[tuple[uuid.UUID, uuid.UUID], ...]) -> None:
        """The keeper found these attempts no longer hold their run (re-queued, taken over,
        or ended meanwhile): stop each that is still running here, as a ``LeaseLost`` from
        a write would; one that is finishing learns it from its fenced finish."""
        for run_id, token in lost:
            entry = self._running.get(run_id)
            if entry is None or entry[0].token != token:
                continue  # ended meanwhile, or a newer attempt holds the slot now
            self._abandon(*entry)

    def _abandon(self, run: ClaimedRun, task: asyncio.Task[None]) -> None:
        if run.lease_lost or run.finishing:
            return
        run.lease_lost = True
        observed.lease_gone(run, self.owner)
        if run.cancellable:  # not started: it sees lease_lost at start
            task.cancel()

    def _cancel(self, run_id: uuid.UUID, action: str | None = None) -> None:
        entry = self._running.get(run_id)
        if entry is None:
            return
        run, task = entry
        if run.cancel_requested:  # the local signal and the NOTIFY both arrive: cancel once
            return
        run.cancel_requested = True
        run.cancel_action = action or run.cancel_action or "interrupt"
        # A task not started yet reads cancel_action at start; one writing its outcome
        # finishes (cancelling it there would abort the finishing transaction).
        if run.cancellable:
            task.cancel()

    async def _dispatch(self) -> None:
        """Claim runs while slots are free, forever: a failed claim (any error) is logged
        and retried after a backoff pause that a wake-up (``run_ready``: a new run, or the
        LISTEN connection back after a fault) cuts short."""
        self._timed_out = True  # at start, learn the due times of delayed runs from the table
        await forever(
            "dispatch",
            self._claim_once,
            self.hub.health,
            stopping=lambda: self._stopping,
            wake=self.hub.run_ready,
        )

    async def _claim_once(self) -> Awaitable[None] | None:
        """One claim; returns the wait for the next wake-up (None: claim again at once)."""
        free = self.concurrency - len(self._running)
        wait = FALLBACK_POLL_SECONDS
        self.hub.run_ready.clear()
        if free > 0:
            check_due, self._timed_out = self._timed_out, True  # until a wake-up says not
            async with (self.relaxed or self.pool).acquire() as conn:
                claimed = await run_rows.claim(conn, self.owner, free, self.lease_seconds)
                if check_due:
                    due = await run_rows.next_due(conn)
                    if due is not None:
                        self.hub.note_due(time.time() + due)
            for row in claimed:
                self._spawn(ClaimedRun.from_row(row))
            # All slots taken: more runs may be pending; a freed slot claims again.
            self._saturated = len(claimed) == free
            if self._saturated:
                self._timed_out = check_due
                return None
            due = self.hub.next_due()  # the next delayed (after_seconds) run
            if due is not None:
                wait = min(wait, due + 0.005)
        else:
            self._saturated = True
        return self._idle(wait)

    async def _idle(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.hub.run_ready.wait(), seconds)
            self._timed_out = False
        except TimeoutError:
            self._timed_out = True

    def _spawn(self, run: ClaimedRun) -> None:
        older = self._running.get(run.run_id)
        if older is not None:
            # This pool claimed the run again (its earlier attempt's lease was lost): the
            # earlier attempt is over; the slot, the renewals and cancels are the new one's.
            self._abandon(*older)
        task = asyncio.create_task(self._execute(run), name=f"run-{run.run_id}")
        self._running[run.run_id] = (run, task)
        self._held_changed()

    def _held_changed(self) -> None:
        self.leases.held = tuple((r.run_id, r.token) for r, _ in self._running.values())
        metrics.worker_slots(self.concurrency, len(self._running))

    async def _execute(self, run: ClaimedRun) -> None:
        try:
            with observed.attempt(run, self.owner):  # log ids, span, lease loss counted
                await self.executor.execute(run)
        except asyncio.CancelledError:
            if not (run.shutdown or run.lease_lost):
                raise
        except Exception:
            log.exception("run %s: unexpected failure in the worker", run.run_id)
        finally:
            # Only this attempt's entry: after a re-claim by this pool the run's slot
            # belongs to the newer attempt, which must keep its renewals and cancels.
            entry = self._running.get(run.run_id)
            if entry is not None and entry[0] is run:
                del self._running[run.run_id]
                self._held_changed()
            if self._saturated:  # a slot is free and runs may be waiting for one
                self.hub.signal_ready()

    async def _scheduler(self) -> None:
        await forever("crons", self._fire_crons, self.hub.health, stopping=lambda: self._stopping)

    async def _fire_crons(self) -> Awaitable[None]:
        """Fire due crons; returns the sleep until the next one is due (at most 1 s, so
        crons created or changed by other processes are seen promptly)."""
        delay = CRON_POLL_SECONDS
        await self.crons.fire_due()
        nxt = await self.crons.next_due()
        if nxt is not None:
            until = (nxt - datetime.datetime.now(datetime.UTC)).total_seconds()
            delay = min(delay, max(until, 0.0))
        return asyncio.sleep(delay)

    async def _housekeeping(self) -> None:
        await forever(
            "housekeeping", self._housekeep, self.hub.health, stopping=lambda: self._stopping
        )

    async def _housekeep(self) -> Awaitable[None]:
        """Every job once (each even if an earlier one failed; the first error is raised
        after all ran); returns the sleep until the next tick."""
        jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("pick_up_cancels", self._pick_up_cancels),
            (
                "requeue_expired",
                lambda: self._periodic("requeue_expired", self.tick_seconds, self._requeue_expired),
            ),
            (
                "sweep_temporary",
                lambda: self._periodic("sweep_temporary", 10.0, self._sweep_temporary),
            ),
            ("sweep_events", lambda: self._periodic("sweep_events", 10.0, self._sweep_events)),
            (
                "sweep_store",
                lambda: self._periodic("sweep_store", self.store_sweep_seconds, self._sweep_store),
            ),
            (
                "sweep_threads",
                lambda: self._periodic(
                    "sweep_threads", self.thread_sweep_seconds, self.threads.sweep_expired
                ),
            ),
        ]
        first: Exception | None = None
        for name, job in jobs:
            try:
                await job()
            except Exception as exc:  # the other jobs still run; the loop reports the first
                if first is None:
                    first = exc
                else:
                    log.debug("housekeeping %s failed too: %r", name, exc)
        if first is not None:
            raise first
        return asyncio.sleep(self.tick_seconds)

    async def _periodic(self, name: str, every: float, job: Any) -> None:
        async with self.pool.acquire() as conn:
            won = await periodic.take_tick(conn, name, every, self.owner)
        if won:
            await job()

    async def _pick_up_cancels(self) -> None:
        if not self._running:
            return
        async with self.pool.acquire() as conn:
            rows = await run_rows.cancel_requests(conn, list(self._running))
        for row in rows:
            self._cancel(row["run_id"], row["cancel_action"])

    async def _requeue_expired(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if await run_rows.requeue_expired(conn):
                await notify(conn, RUN_READY)

    async def _sweep_temporary(self) -> None:
        """Stateless threads whose waiter went away are deleted a minute after their run."""
        async with self.pool.acquire() as conn, conn.transaction():
            await thread_rows.delete_temporary(conn)

    async def _sweep_store(self) -> None:
        """Store items past their TTL (already invisible) are deleted."""
        async with self.pool.acquire() as conn:
            await store_rows.sweep(conn)

    async def _sweep_events(self) -> None:
        async with self.pool.acquire() as conn:
            await event_rows.purge(conn, self.stream_ttl_seconds)
