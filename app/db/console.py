"""What the built-in console (``/console``) reads that the public API does not show: a run's
timeline (raw status, queued/started/ended times, attempts, lease owner) and the busy
threads of the ``busy_threads`` view. Read-only; every statement goes through the access
door's filters on the thread's metadata (DESIGN I9), so a hidden thread's runs are absent.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.core.access import Access
from app.db.access import Where
from app.db.types import Conn

TIMELINE_COLUMNS = (
    "r.run_id, r.thread_id, r.assistant_id, r.status, r.multitask_strategy, r.created_at, "
    "r.started_at, r.ended_at, r.updated_at, r.attempt, r.lease_owner, r.lease_expires_at, "
    "r.cancel_action"
)


async def run_timelines(
    conn: Conn, access: Access, thread_id: uuid.UUID, limit: int
) -> list[dict[str, Any]] | None:
    """The thread's runs, newest first, with their timeline columns; None when the thread
    does not exist or the caller may not see it."""
    where = Where()
    where.add(f"t.thread_id = {where.param(thread_id)}")
    access.apply(where, "t.metadata")
    seen = await conn.fetchval(f"SELECT 1 FROM threads t WHERE {where.sql()}", *where.params)
    if seen is None:
        return None
    rows = await conn.fetch(
        f"""SELECT {TIMELINE_COLUMNS} FROM runs r WHERE r.thread_id = $1
            ORDER BY r.created_at DESC, r.run_id DESC LIMIT $2""",
        thread_id,
        limit,
    )
    return [dict(r) for r in rows]


async def run_timeline(conn: Conn, access: Access, run_id: uuid.UUID) -> dict[str, Any] | None:
    """One run's timeline columns, seen through its thread's access (None: not found)."""
    where = Where()
    where.add(f"r.run_id = {where.param(run_id)}")
    access.apply(where, "t.metadata")
    row = await conn.fetchrow(
        f"""SELECT {TIMELINE_COLUMNS} FROM runs r JOIN threads t USING (thread_id)
            WHERE {where.sql()}""",
        *where.params,
    )
    return None if row is None else dict(row)


async def busy_threads(conn: Conn, access: Access, limit: int) -> list[dict[str, Any]]:
    """The ``busy_threads`` view (each active run: since when, on which worker, which
    attempt, how many runs wait behind it), oldest first, only threads the caller may see."""
    where = Where()
    access.apply(where, "t.metadata")
    rows = await conn.fetch(
        f"""SELECT b.thread_id, b.run_id, b.run_status, b.since, b.worker, b.attempt,
                   b.lease_expires_at, b.queued_runs, t.status AS thread_status
              FROM busy_threads b JOIN threads t USING (thread_id)
             WHERE {where.sql()}
             ORDER BY b.since, b.run_id LIMIT {where.param(limit)}""",
        *where.params,
    )
    return [dict(r) for r in rows]
