"""The built-in console's read-only use cases (``/console/api/...``): run timelines and the
queue with its busy threads, which the public API does not show. Everything else the
console shows comes from the public API itself."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.access import Access
from app.core.errors import NotFound
from app.db import console as rows
from app.db import stats
from app.db.statuses import WAITING

BUSY_LIMIT = 100
TIMELINE_LIMIT = 50


def _timeline(row: dict[str, Any]) -> dict[str, Any]:
    """A run's row as the console shows it: the stored status (``queued`` included, which
    the public API shows as ``pending``) and the steps of its life so far."""
    steps = [{"step": "queued", "at": row["created_at"]}]
    if row["started_at"] is not None:
        steps.append({"step": "running", "at": row["started_at"]})
    if row["ended_at"] is not None:
        steps.append({"step": row["status"], "at": row["ended_at"]})
    return {**row, "timeline": steps, "waiting": row["status"] in WAITING}


class ConsoleService:
    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self.pool = pool

    async def thread_runs(self, access: Access, thread_id: uuid.UUID) -> list[dict[str, Any]]:
        """The thread's latest runs with their timelines, newest first (404: no thread)."""
        async with self.pool.acquire() as conn:
            found = await rows.run_timelines(conn, access, thread_id, TIMELINE_LIMIT)
        if found is None:
            raise NotFound(f"Thread with ID {thread_id} not found")
        return [_timeline(r) for r in found]

    async def run(self, access: Access, run_id: uuid.UUID) -> dict[str, Any]:
        """One run's timeline (404 when missing or hidden by the access filters)."""
        async with self.pool.acquire() as conn:
            row = await rows.run_timeline(conn, access, run_id)
        if row is None:
            raise NotFound("Not Found")
        return _timeline(row)

    async def queue(self, access: Access) -> dict[str, Any]:
        """The run queue's counts (as ``/metrics``) and the busy threads the caller may see."""
        async with self.pool.acquire() as conn:
            counts = await stats.queue(conn)
            busy = await rows.busy_threads(conn, access, BUSY_LIMIT)
        return {"counts": counts, "busy_threads": busy}
