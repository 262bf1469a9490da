"""Thread rows. Callers own the transaction; every function takes an ``Access``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db.access import Access, Where
from app.db.statuses import INFLIGHT_SQL
from app.db.types import Conn

TABLE = "threads"
KEY = "thread_id"
COLUMNS = (
    "thread_id, created_at, updated_at, state_updated_at, metadata, status, config, "
    '"values", interrupts, error'
)


async def insert(
    conn: Conn, thread_id: uuid.UUID, metadata: dict[str, Any], config: dict[str, Any] | None = None
) -> asyncpg.Record | None:
    """Insert a thread; None when that id already exists (nothing is changed then)."""
    return await conn.fetchrow(
        f"""INSERT INTO threads (thread_id, metadata, config) VALUES ($1, $2, $3)
            ON CONFLICT (thread_id) DO NOTHING RETURNING {COLUMNS}""",
        thread_id,
        metadata,
        config or {},
    )


async def get(
    conn: Conn, thread_id: uuid.UUID, access: Access, *, lock: bool = False
) -> asyncpg.Record | None:
    where = Where()
    where.add(f"thread_id = {where.param(thread_id)}")
    access.apply(where)
    # NO KEY UPDATE: serialises run create/finish on the thread without blocking the
    # KEY SHARE locks that inserts referencing the thread (run_events, runs) take.
    suffix = " FOR NO KEY UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM threads WHERE {where.sql()}{suffix}", *where.params
    )


async def merge_metadata(
    conn: Conn, thread_id: uuid.UUID, metadata: dict[str, Any], access: Access
) -> asyncpg.Record | None:
    """Shallow-merge ``metadata`` into the thread's; None when not found."""
    where = Where()
    patch = where.param(metadata)
    where.add(f"thread_id = {where.param(thread_id)}")
    access.apply(where)
    return await conn.fetchrow(
        f"""UPDATE threads SET metadata = metadata || {patch}::jsonb, updated_at = now()
            WHERE {where.sql()} RETURNING {COLUMNS}""",
        *where.params,
    )


async def delete(conn: Conn, thread_id: uuid.UUID, access: Access) -> bool:
    """Delete the thread (its runs go by cascade); False when not found."""
    where = Where()
    where.add(f"thread_id = {where.param(thread_id)}")
    access.apply(where)
    row = await conn.fetchrow(
        f"DELETE FROM threads WHERE {where.sql()} RETURNING thread_id", *where.params
    )
    return row is not None


def filters(
    where: Where,
    *,
    metadata: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    status: str | None = None,
    ids: list[uuid.UUID] | None = None,
) -> None:
    if metadata:
        where.add(f"metadata @> {where.param(metadata)}::jsonb")
    if values:
        where.add(f'"values" @> {where.param(values)}::jsonb')
    if status:
        where.add(f"status = {where.param(status)}")
    if ids is not None:
        where.add(f"thread_id = ANY({where.param(ids)}::uuid[])")


async def mark_busy(conn: Conn, thread_id: uuid.UUID, graph_id: str, assistant_id: str) -> None:
    """A run was queued on the thread: status busy, metadata names its graph and assistant."""
    await conn.execute(
        """UPDATE threads SET status = 'busy', updated_at = now(),
               metadata = metadata || jsonb_build_object('graph_id', $2::text,
                                                         'assistant_id', $3::text),
               expires_at = now() + make_interval(secs => ttl_minutes * 60)
           WHERE thread_id = $1""",
        thread_id,
        graph_id,
        assistant_id,
    )


async def set_status(conn: Conn, thread_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE threads SET status = $2, updated_at = now() WHERE thread_id = $1",
        thread_id,
        status,
    )


async def set_state(
    conn: Conn,
    thread_id: uuid.UUID,
    *,
    status: str,
    values: Any,
    interrupts: dict[str, Any],
    error: Any,
) -> None:
    """Refresh the thread from its latest checkpoint after a run ended."""
    await conn.execute(
        """UPDATE threads SET status = $2, "values" = $3, interrupts = $4, error = $5,
                              updated_at = now(), state_updated_at = now()
           WHERE thread_id = $1""",
        thread_id,
        status,
        values,
        interrupts,
        error,
    )


async def set_ttl(conn: Conn, thread_id: uuid.UUID, minutes: float, strategy: str) -> None:
    await conn.execute(
        """UPDATE threads SET ttl_minutes = $2::float8, ttl_strategy = $3,
               expires_at = now() + make_interval(secs => $2::float8 * 60)
           WHERE thread_id = $1""",
        thread_id,
        minutes,
        strategy,
    )


async def ttl_of(conn: Conn, thread_id: uuid.UUID) -> asyncpg.Record | None:
    """The thread's TTL columns; None when it has no TTL."""
    return await conn.fetchrow(
        "SELECT ttl_minutes, ttl_strategy, expires_at FROM threads "
        "WHERE thread_id = $1 AND ttl_minutes IS NOT NULL",
        thread_id,
    )


async def expired(conn: Conn, limit: int = 100) -> list[asyncpg.Record]:
    """Threads past their TTL with no run in flight, locked for the sweep."""
    return list(
        await conn.fetch(
            f"""SELECT thread_id, ttl_strategy, ttl_minutes FROM threads t
               WHERE expires_at <= now() AND NOT EXISTS (
                 SELECT 1 FROM runs r WHERE r.thread_id = t.thread_id
                   AND r.status IN {INFLIGHT_SQL})
               ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
    )
