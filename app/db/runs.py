"""Run rows: claim, finish, promote, cancel (the create is ``app.db.run_create``).

Callers own the transaction. Creating and finishing a run both lock the thread row first
(``threads.get(..., lock=True)``), so a promotion is never missed (DESIGN I2).
"""

from __future__ import annotations

import uuid

import asyncpg

from app.checkpoint import sql as checkpoint_sql
from app.core.access import Access
from app.db import paging
from app.db.access import Where
from app.db.statuses import ACTIVE_SQL, INFLIGHT_SQL, WAITING_SQL, sql_list
from app.db.types import Conn

COLUMNS = (
    "run_id, thread_id, assistant_id, status, multitask_strategy, metadata, kwargs, "
    "created_at, updated_at"
)
COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


async def has_inflight(conn: Conn, thread_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM runs WHERE thread_id = $1 AND status IN {INFLIGHT_SQL})",
            thread_id,
        )
    )


async def inflight(conn: Conn, thread_id: uuid.UUID) -> list[asyncpg.Record]:
    """The thread's pending, queued and running runs, oldest first (rows locked)."""
    return list(
        await conn.fetch(
            "SELECT run_id, status FROM runs WHERE thread_id = $1 "
            f"AND status IN {INFLIGHT_SQL} ORDER BY created_at FOR UPDATE",
            thread_id,
        )
    )


async def get(
    conn: Conn, thread_id: uuid.UUID | None, run_id: uuid.UUID, access: Access
) -> asyncpg.Record | None:
    """The run (with its output), seen through its thread's access; any thread when
    ``thread_id`` is None."""
    where = Where()
    where.add(f"r.run_id = {where.param(run_id)}")
    if thread_id is not None:
        where.add(f"r.thread_id = {where.param(thread_id)}")
    access.apply(where, "t.metadata")
    cols = ", ".join(f"r.{c.strip()}" for c in COLUMNS.split(","))
    return await conn.fetchrow(
        f"""SELECT {cols}, r.output, r.error FROM runs r JOIN threads t USING (thread_id)
            WHERE {where.sql()}""",
        *where.params,
    )


async def list_for_thread(
    conn: Conn,
    thread_id: uuid.UUID,
    *,
    columns: str,
    status: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    where = Where()
    where.add(f"thread_id = {where.param(thread_id)}")
    if status == "pending":
        where.add(f"status IN {WAITING_SQL}")
    elif status:
        where.add(f"status = {where.param(status)}")
    rows, _ = await paging.page(
        conn,
        "runs",
        "run_id",
        where,
        columns=columns,
        sort_by="created_at",
        sort_order="desc",
        limit=limit,
        offset=offset,
    )
    return rows


async def delete(conn: Conn, thread_id: uuid.UUID, run_ids: list[uuid.UUID]) -> None:
    """Delete runs of the thread and the checkpoints they wrote (a run deleted once it
    ended; a rollback)."""
    await checkpoint_sql.delete_for_runs(conn, [str(r) for r in run_ids], str(thread_id))
    await conn.execute("DELETE FROM runs WHERE run_id = ANY($1::uuid[])", run_ids)


async def mark_cancelled(conn: Conn, run_ids: list[uuid.UUID]) -> None:
    """Not-yet-started runs cancelled with action interrupt end ``interrupted`` at once."""
    await conn.execute(
        """UPDATE runs SET status = 'interrupted', ended_at = now(), updated_at = now(),
                           output = '{}'::jsonb
           WHERE run_id = ANY($1::uuid[])""",
        run_ids,
    )


async def request_cancel(conn: Conn, run_id: uuid.UUID, action: str) -> None:
    """Ask the worker running ``run_id`` to stop; it finishes the run itself."""
    await conn.execute(
        "UPDATE runs SET cancel_action = $2, updated_at = now() WHERE run_id = $1",
        run_id,
        action,
    )


def promote_next(thread: str, ending: str | None = None, ended: str = "") -> str:
    """The promotion (FIFO, DESIGN I2): the oldest queued run of thread ``thread`` (SQL)
    becomes ``pending`` if the thread has no active run. ``ending``: the id (SQL) of a run
    of the thread that a sibling CTE of the same statement ends, which the statement's
    snapshot still reads as active; ``ended``: a condition reading that sibling (``EXISTS
    (SELECT 1 FROM fin)``), which runs it before this update, so the one-active-run index
    finds the ended run's row updated. A CTE of the statements that end a run
    (``app.db.outcome``); the caller holds the thread row lock."""
    other = "" if ending is None else f" AND run_id <> {ending}"
    guard = f"\n   AND {ended}" if ended else ""
    return f"""UPDATE runs SET status = 'pending', updated_at = now()
 WHERE run_id = (SELECT run_id FROM runs WHERE thread_id = {thread} AND status = 'queued'
                  ORDER BY created_at, run_id LIMIT 1){guard}
   AND NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = {thread} AND status IN {ACTIVE_SQL}{other})
RETURNING run_id"""


PROMOTE_NEXT = promote_next("$1")


START = "start"
"""The claim's columns of the starting checkpoint are named ``start_`` + its columns."""
START_COLUMNS, START_JOIN = checkpoint_sql.latest_root("claimed.thread_id::text", START)


async def claim(conn: Conn, owner: str, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Claim up to ``limit`` pending runs (oldest first) for ``owner``: status ``running``,
    a new lease epoch and a fresh random ``lease_token``, attempt + 1. Rows other workers
    hold are skipped, not waited for.

    Every later write of the attempt is fenced by (epoch, token). The epoch alone could
    repeat: claims commit with ``synchronous_commit=off``, so a PostgreSQL crash (or a
    failover to a lagging replica) can lose a claim that a worker already acted on, and the
    next claim would hand out the same epoch again; the token is never handed out twice.
    ``queued_seconds``: how long ago the run was created (or became due). ``start_*``:
    the thread's newest root checkpoint (``checkpoint_sql.latest_root``), which the run's
    graph reads first: read here, it costs the run no statement of its own."""
    return list(
        await conn.fetch(
            f"""WITH claimed AS (
               UPDATE runs r SET status = 'running', attempt = r.attempt + 1,
                   lease_owner = $1, lease_epoch = r.lease_epoch + 1,
                   lease_token = gen_random_uuid(),
                   lease_expires_at = now() + make_interval(secs => $3),
                   started_at = coalesce(r.started_at, now()), updated_at = now()
               FROM (SELECT run_id FROM runs WHERE status = 'pending' AND created_at <= now()
                     ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) picked
               WHERE r.run_id = picked.run_id
               RETURNING r.run_id, r.thread_id, r.assistant_id, r.kwargs, r.metadata,
                         r.attempt, r.lease_epoch, r.lease_token, r.temporary,
                         r.cancel_action, r.multitask_strategy,
                         extract(epoch FROM now() - r.created_at)::float8 AS queued_seconds)
               SELECT claimed.*, {START_COLUMNS} FROM claimed {START_JOIN}""",
            owner,
            limit,
            lease_seconds,
        )
    )


async def next_due(conn: Conn) -> float | None:
    """Seconds until the next delayed (after_seconds) pending run is due, if any."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM min(created_at) - now()) FROM runs "
        "WHERE status = 'pending' AND created_at > now()"
    )
    return None if value is None else max(float(value), 0.0)


RENEW_WHERE = "r.run_id = h.run_id AND r.lease_token = h.token AND r.status = 'running'"
"""A renewal's fence: the attempt (token) still holds the run, whoever the owner is."""

REQUEUE_SET = (
    "status = 'pending', lease_owner = NULL, lease_expires_at = NULL, lease_token = NULL, "
    "updated_at = now()"
)
"""What giving a running run back does to its row: no owner, no lease, no token (so no
write of the attempt that held it passes a fence any more)."""


async def hand_back(
    conn: Conn, run_id: uuid.UUID, epoch: int, token: uuid.UUID, *, counted: bool = False
) -> bool:
    """Give the run back as ``pending`` if this attempt (``epoch``, ``token``) still holds
    it; True if it did. The caller NOTIFYs. At shutdown the attempt is not counted;
    ``counted`` keeps it (an attempt whose committed progress the database lost)."""
    value = await conn.fetchval(
        f"""UPDATE runs SET {REQUEUE_SET},
                   attempt = CASE WHEN $4 THEN attempt ELSE greatest(attempt - 1, 0) END
             WHERE run_id = $1 AND lease_epoch = $2 AND lease_token = $3
               AND status = 'running'
            RETURNING run_id""",
        run_id,
        epoch,
        token,
        counted,
    )
    return value is not None


async def status_of(conn: Conn, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT status, output, cancel_action, temporary FROM runs WHERE run_id = $1", run_id
    )


async def requeue_expired(conn: Conn) -> list[uuid.UUID]:
    """Runs whose lease expired go back to ``pending`` (resumed from their checkpoint)."""
    rows = await conn.fetch(
        f"""UPDATE runs SET {REQUEUE_SET}
           WHERE status = 'running' AND lease_expires_at < now() RETURNING run_id"""
    )
    return [r["run_id"] for r in rows]


async def wrote_checkpoint(conn: Conn, run_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
    """Whether an earlier attempt of the run left a checkpoint to resume from."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = $1 AND run_id = $2)",
            str(thread_id),
            str(run_id),
        )
    )


async def cancel_requests(conn: Conn, run_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """(run_id, cancel_action) of those runs a cancel was requested for."""
    return list(
        await conn.fetch(
            "SELECT run_id, cancel_action FROM runs WHERE run_id = ANY($1::uuid[]) "
            "AND cancel_action IS NOT NULL",
            run_ids,
        )
    )


async def ids_in(
    conn: Conn,
    access: Access,
    statuses: tuple[str, ...],
    *,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
    assistant_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """(thread_id, run_id) of the runs in ``statuses`` (a set of ``app.db.statuses``) seen
    through their thread's access, newest first: of ``thread_id`` (only ``run_ids``, when
    given), of ``assistant_id``, or of every thread."""
    where = Where()
    if thread_id is not None:
        where.add(f"r.thread_id = {where.param(thread_id)}")
    if run_ids is not None:
        where.add(f"r.run_id = ANY({where.param(run_ids)}::uuid[])")
    if assistant_id is not None:
        where.add(f"r.assistant_id = {where.param(assistant_id)}")
    where.add(f"r.status IN {sql_list(statuses)}")
    access.apply(where, "t.metadata")
    return list(
        await conn.fetch(
            f"SELECT r.thread_id, r.run_id FROM runs r JOIN threads t USING (thread_id) "
            f"WHERE {where.sql()} ORDER BY r.created_at DESC",
            *where.params,
        )
    )


async def with_times(conn: Conn, run_id: uuid.UUID) -> asyncpg.Record | None:
    """The run's columns with ``started_at`` and ``ended_at`` (a webhook's payload)."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS}, started_at, ended_at FROM runs WHERE run_id = $1", run_id
    )
