"""Thread rows. Callers own the transaction; every function takes an ``Access``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.checkpoint import sql as checkpoint_sql
from app.core.access import Access
from app.db import paging
from app.db.access import Where
from app.db.statuses import INFLIGHT_SQL, TERMINAL_SQL
from app.db.types import Conn

TABLE = "threads"
KEY = "thread_id"
COLUMNS = (
    "thread_id, created_at, updated_at, state_updated_at, metadata, status, config, "
    '"values", interrupts, error'
)


async def insert(
    conn: Conn,
    thread_id: uuid.UUID,
    metadata: dict[str, Any],
    config: dict[str, Any] | None = None,
    ttl: tuple[float, str] | None = None,
) -> asyncpg.Record | None:
    """Insert a thread (expiring after ``ttl``: minutes and strategy, if given); None when
    that id already exists (nothing is changed then)."""
    minutes, strategy = ttl if ttl is not None else (None, None)
    return await conn.fetchrow(
        f"""INSERT INTO threads (thread_id, metadata, config, ttl_minutes, ttl_strategy, expires_at)
            VALUES ($1, $2, $3, $4::float8, $5,
                    now() + make_interval(secs => $4::float8 * 60))
            ON CONFLICT (thread_id) DO NOTHING RETURNING {COLUMNS}""",
        thread_id,
        metadata,
        config or {},
        minutes,
        strategy,
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


async def count(conn: Conn, where: Where) -> int:
    """How many threads match ``where`` (filters and access), exactly.

    With no condition at all (no filter, and an access that lets everything through) the
    sum of ``thread_counts``, 16 rows the triggers on ``threads`` keep in the threads'
    own transactions (migration 0015): as exact as ``count(*)``, which would read an index
    entry per thread. Any condition, an auth owner filter too, counts the matching rows.
    """
    if where.conditions:
        return await paging.count(conn, TABLE, where)
    return int(await conn.fetchval("SELECT coalesce(sum(n), 0) FROM thread_counts"))


def busy(ending: str | None = None) -> str:
    """SQL: whether the ``threads`` row of the statement has a run in flight: the thread is
    ``busy`` then, whatever ``app.core.thread_status.after_run`` says (the statements that
    write a thread's status after a run use this: ``app.db.outcome``). ``ending``: a run
    (its id as SQL) that the same statement ends, not counted."""
    other = "" if ending is None else f" AND runs.run_id <> {ending}"
    return (
        "EXISTS (SELECT 1 FROM runs WHERE runs.thread_id = threads.thread_id "
        f"AND runs.status IN {INFLIGHT_SQL}{other})"
    )


BUSY = busy()

_STALE_TEMPORARY = f"""threads.thread_id IN (
    SELECT thread_id FROM runs WHERE temporary AND kwargs->>'on_completion' = 'delete'
       AND status IN {TERMINAL_SQL} AND ended_at < now() - interval '60 seconds')"""


async def delete_temporary(conn: Conn, thread_id: uuid.UUID | None = None) -> None:
    """Delete stateless runs' threads (``on_completion="delete"``) with their checkpoints:
    ``thread_id`` (its run's finish, or the waiter that read the output), or, when None,
    every one whose run ended over a minute ago (the sweep: its waiter went away). A
    thread with a run in flight is kept. Callers own the transaction."""
    if thread_id is None:
        picked, args = _STALE_TEMPORARY, []
    else:
        picked, args = "threads.thread_id = $1", [thread_id]
    deleted = await conn.fetch(
        f"DELETE FROM threads WHERE {picked} AND NOT {BUSY} RETURNING thread_id", *args
    )
    if deleted:
        await checkpoint_sql.delete_threads(conn, [str(r["thread_id"]) for r in deleted])


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


async def delete_many(conn: Conn, thread_ids: list[uuid.UUID]) -> None:
    """Delete the threads (their runs go by cascade), whoever owns them: the TTL sweep."""
    await conn.execute("DELETE FROM threads WHERE thread_id = ANY($1::uuid[])", thread_ids)


async def clear_expiry(conn: Conn, thread_ids: list[uuid.UUID]) -> None:
    """No expiry until the threads' next activity sets one (``keep_latest`` was applied)."""
    await conn.execute(
        "UPDATE threads SET expires_at = NULL WHERE thread_id = ANY($1::uuid[])", thread_ids
    )


async def running_run_ids(conn: Conn, thread_id: uuid.UUID) -> list[uuid.UUID]:
    """The thread's runs a worker is executing now."""
    found = await conn.fetch(
        "SELECT run_id FROM runs WHERE thread_id = $1 AND status = 'running'", thread_id
    )
    return [r["run_id"] for r in found]


async def copy(
    conn: Conn, source_id: uuid.UUID, new_id: uuid.UUID, stamp: dict[str, Any]
) -> asyncpg.Record:
    """A new thread ``new_id`` with the source's metadata (plus ``stamp``), values and
    interrupts, and an empty config (as the reference: it shows the last run's assistant
    configurable, and the copy has had no run); ``interrupted`` if it has interrupts, else
    ``idle``. The caller checked that the source exists (and holds it in its transaction)."""
    row = await conn.fetchrow(
        f"""INSERT INTO threads (thread_id, metadata, "values", interrupts, status)
            SELECT $2, metadata || $3::jsonb, "values", interrupts,
                   CASE WHEN interrupts = '{{}}'::jsonb THEN 'idle' ELSE 'interrupted' END
            FROM threads WHERE thread_id = $1
            RETURNING {COLUMNS}""",
        source_id,
        new_id,
        stamp,
    )
    assert row is not None
    return row


async def checkpoint_sizes(conn: Conn, thread_id: uuid.UUID) -> asyncpg.Record:
    """How many checkpoints, channel values (blobs) and pending writes the thread has, and
    the bytes each kind takes as stored: ``cp_*``, ``cv_*``, ``pw_*`` (``_count``, ``_bytes``)."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM checkpoints WHERE thread_id = $1) AS cp_count,
             (SELECT coalesce(sum(pg_column_size(checkpoint) + pg_column_size(metadata)), 0)
                FROM checkpoints WHERE thread_id = $1) AS cp_bytes,
             (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = $1) AS cv_count,
             (SELECT coalesce(sum(coalesce(octet_length(blob), 0)), 0)
                FROM checkpoint_blobs WHERE thread_id = $1) AS cv_bytes,
             (SELECT count(*) FROM checkpoint_writes WHERE thread_id = $1) AS pw_count,
             (SELECT coalesce(sum(octet_length(blob)), 0)
                FROM checkpoint_writes WHERE thread_id = $1) AS pw_bytes""",
        str(thread_id),
    )
    assert row is not None
    return row


async def ids_for_assistant(conn: Conn, assistant_id: uuid.UUID, access: Access) -> list[uuid.UUID]:
    """Threads an assistant ran on (``metadata.assistant_id``) that ``access`` lets through."""
    where = Where()
    # Containment, not ->>, so the metadata GIN index answers (no scan of every thread).
    where.add(
        f"metadata @> jsonb_build_object('assistant_id', {where.param(str(assistant_id))}::text)"
    )
    access.apply(where)
    found = await conn.fetch(f"SELECT thread_id FROM threads WHERE {where.sql()}", *where.params)
    return [r["thread_id"] for r in found]
