"""Writing a run's stream events to ``run_events`` while the graph runs.

Events are encoded at once and appended to a buffer; one background task writes whatever
has accumulated in one fenced statement (with its NOTIFY) as soon as the previous write is
done. Tokens therefore reach readers within about one round trip, and a fast producer gets
bigger batches instead of a queue of statements. ``close()`` stops the task and hands back
what was not written yet, for the run's finishing transaction to write with the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg

from app.core import jsonable
from app.db import events as event_rows

log = logging.getLogger("turnstile.worker")

RETRY_DELAYS = (0.05, 0.2, 1.0)


class EventWriter:
    def __init__(
        self, pool: asyncpg.Pool[Any], run_id: uuid.UUID, thread_id: uuid.UUID, epoch: int
    ) -> None:
        self.pool = pool
        self.run_id = run_id
        self.thread_id = thread_id
        self.epoch = epoch
        self.lease_lost = False
        self._pending: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._loop(), name=f"events-{run_id}")

    def add(self, event: str, data: Any) -> None:
        self._pending.append((event, jsonable.dumps_str(data)))
        self._wake.set()

    async def close(self) -> list[tuple[str, str]]:
        """Stop writing (after the write in flight) and return the events not written."""
        self._closing = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        pending, self._pending = self._pending, []
        return pending

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            batch, self._pending = self._pending, []
            if batch:
                await self._write(batch)

    async def _write(self, batch: list[tuple[str, str]]) -> None:
        for delay in (*RETRY_DELAYS, None):
            try:
                async with self.pool.acquire() as conn:
                    written = await event_rows.append_fenced(
                        conn, self.run_id, self.thread_id, self.epoch, batch
                    )
            except (OSError, asyncpg.PostgresError) as exc:
                if delay is None:
                    log.error("run %s: %d stream events lost: %s", self.run_id, len(batch), exc)
                    return
                await asyncio.sleep(delay)
                continue
            if written == 0 and not self.lease_lost:
                self.lease_lost = True
                log.warning(
                    "run %s: lease lost; its stream events are no longer written", self.run_id
                )
            return
