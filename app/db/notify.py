"""Wake-ups across processes: LISTEN/NOTIFY as a hint, the tables as the truth (DESIGN I5).

Channels (payloads carry ids only):
* ``turnstile_run_ready``  — a run became ``pending`` (created or promoted): wake workers.
* ``turnstile_run_done``   — ``<run_id>`` reached a terminal state: wake joiners and waiters.
* ``turnstile_run_cancel`` — ``<run_id>``: the worker running it should stop.

The enqueue's NOTIFY is sent in the same transaction as the insert, so it is delivered only
if the run is committed. In-process listeners are also signalled directly after commit, so a
run created by this process never waits for the round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

from app.db.types import Conn
from app.db.urls import plain_url

log = logging.getLogger("turnstile.notify")

RUN_READY = "turnstile_run_ready"
RUN_DONE = "turnstile_run_done"
RUN_CANCEL = "turnstile_run_cancel"


async def notify(conn: Conn, channel: str, payload: str = "") -> None:
    """Queue a NOTIFY on ``conn`` (delivered when its transaction commits)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class Hub:
    """This process's end of the channels: one LISTEN connection, many local subscribers."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.run_ready = asyncio.Event()
        self._done: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._cancel_handlers: list[Callable[[uuid.UUID], None]] = []
        self._conn: asyncpg.Connection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._keepalive())

    async def _connect(self) -> None:
        conn = await asyncpg.connect(plain_url(self.database_url))
        await conn.add_listener(RUN_READY, self._on_notification)
        await conn.add_listener(RUN_DONE, self._on_notification)
        await conn.add_listener(RUN_CANCEL, self._on_notification)
        self._conn = conn

    async def _keepalive(self) -> None:
        """Reconnect the LISTEN connection if it drops; subscribers poll meanwhile."""
        while not self._closing:
            await asyncio.sleep(5)
            conn = self._conn
            if conn is not None and not conn.is_closed():
                continue
            try:
                await self._connect()
                self.run_ready.set()  # we may have missed wake-ups
                for events in self._done.values():
                    for event in events:
                        event.set()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("LISTEN connection lost, retrying: %s", exc)

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if channel == RUN_READY:
            self.run_ready.set()
            return
        try:
            run_id = uuid.UUID(payload)
        except ValueError:
            return
        if channel == RUN_DONE:
            self.signal_done(run_id)
        elif channel == RUN_CANCEL:
            self.signal_cancel(run_id)

    # In-process signals (also called right after this process commits).
    def signal_ready(self) -> None:
        self.run_ready.set()

    def signal_done(self, run_id: uuid.UUID) -> None:
        for event in self._done.get(run_id, ()):
            event.set()

    def signal_cancel(self, run_id: uuid.UUID) -> None:
        for handler in self._cancel_handlers:
            handler(run_id)

    def on_cancel(self, handler: Callable[[uuid.UUID], None]) -> None:
        self._cancel_handlers.append(handler)

    @contextlib.contextmanager
    def watch_done(self, run_id: uuid.UUID) -> Any:
        """An Event set when ``run_id`` is reported done; register before checking the row."""
        event = asyncio.Event()
        self._done[run_id].add(event)
        try:
            yield event
        finally:
            events = self._done.get(run_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._done[run_id]
