"""Lease renewal on a thread of its own (DESIGN I4).

The graphs run on the worker's event loop, and a node may block it: a synchronous
``time.sleep`` or a CPU-bound step inside an async node. If the heartbeat shared that loop, a
healthy run would look dead, another process would re-queue it, and its step would run twice.
So the leases are renewed by this thread, with its own event loop and its own connection:
one ``UPDATE`` per tick for the runs this worker is executing now. A run that no task
executes any more (whatever went wrong) is not renewed, so its lease expires and it is
re-queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from typing import Any

import asyncpg

from app.db import runs as run_rows
from app.db.urls import plain_url

log = logging.getLogger("turnstile.worker")


class LeaseKeeper:
    def __init__(self, database_url: str, owner: str, lease_seconds: float) -> None:
        self.database_url = database_url
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = lease_seconds / 3
        self.run_ids: tuple[uuid.UUID, ...] = ()
        """The runs this worker is executing now (replaced whole by the pool; read here)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="turnstile-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        conn: asyncpg.Connection[Any] | None = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    conn = loop.run_until_complete(self._renew(conn))
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("lease renewal failed (retrying): %s", exc)
                    conn = None
        finally:
            if conn is not None and not conn.is_closed():
                loop.run_until_complete(conn.close())
            loop.close()

    async def _renew(self, conn: asyncpg.Connection[Any] | None) -> asyncpg.Connection[Any]:
        if conn is None or conn.is_closed():
            # No statement cache: one statement per tick gains nothing from it, and the
            # URL may lead through a transaction-mode pooler (app.db.pool).
            conn = await asyncpg.connect(plain_url(self.database_url), statement_cache_size=0)
        await run_rows.renew_leases(conn, self.owner, self.lease_seconds, list(self.run_ids))
        return conn
