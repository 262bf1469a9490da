"""Run rows: insert under the one-active-run index, claim, finish, promote, cancel.

Callers own the transaction. Creating and finishing a run both lock the thread row first
(``threads.get(..., lock=True)``), so a promotion is never missed (DESIGN I2).
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db import paging
from app.db.access import Access, Where
from app.db.notify import RUN_READY
from app.db.statuses import ACTIVE_SQL, INFLIGHT_SQL, WAITING_SQL
from app.db.types import Conn

COLUMNS = (
    "run_id, thread_id, assistant_id, status, multitask_strategy, metadata, kwargs, "
    "created_at, updated_at"
)
COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def _thread_and_assistant(
    thread_id: uuid.UUID, access: Access, assistant_id: uuid.UUID, graph_ids: list[str]
) -> tuple[Where, Where]:
    """The conditions on the thread (``t``) and the assistant (``a``) of a create, through
    the caller's access, numbering one parameter list."""
    where = Where()
    where.add(f"t.thread_id = {where.param(thread_id)}")
    access.apply(where, "t.metadata")
    assistant = Where(where.params)
    assistant.add(f"a.assistant_id = {assistant.param(assistant_id)}")
    assistant.add(f"a.graph_id = ANY({assistant.param(graph_ids)}::text[])")
    access.of_assistant().apply(assistant, "a.metadata")
    return where, assistant


async def lock_thread(
    conn: Conn,
    thread_id: uuid.UUID,
    access: Access,
    assistant_id: uuid.UUID,
    graph_ids: list[str],
) -> asyncpg.Record | None:
    """First statement of a run create: lock the thread row (``FOR NO KEY UPDATE``, as every
    finish does) and read what the create needs in the same round trip: the thread's
    metadata and interrupts, whether it has an active run, and the assistant (as JSON, or
    NULL when missing or hidden). None when the thread is missing or hidden.

    ``busy`` is read in this statement's snapshot, taken before the lock was granted: true
    means the thread was busy when the create arrived (a ``reject`` may answer 409 at once);
    false is not trusted for ``pending``: the insert's unique index decides."""
    where, assistant = _thread_and_assistant(thread_id, access, assistant_id, graph_ids)
    return await conn.fetchrow(
        f"""SELECT t.metadata, t.interrupts,
                   EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.thread_id
                           AND r.status IN {ACTIVE_SQL}) AS busy,
                   (SELECT jsonb_build_object('assistant_id', a.assistant_id,
                                              'graph_id', a.graph_id, 'config', a.config,
                                              'context', a.context, 'metadata', a.metadata)
                      FROM assistants a WHERE {assistant.sql()}) AS assistant
              FROM threads t WHERE {where.sql()} FOR NO KEY UPDATE OF t""",
        *where.params,
    )


async def insert(
    conn: Conn,
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    assistant_id: uuid.UUID,
    graph_id: str,
    status: str,
    multitask_strategy: str,
    metadata: dict[str, Any],
    kwargs: dict[str, Any],
    temporary: bool,
    delay_seconds: float = 0.0,
    ready_payload: str = "",
) -> asyncpg.Record:
    """Insert a run, mark its thread busy and, if the run is ``pending``, queue the
    ``run_ready`` NOTIFY: one statement. The caller holds the thread lock (``lock_thread``).

    ``status='auto'`` (enqueue) makes the run ``queued`` when the thread has an active run
    (read in this statement's snapshot, taken after the lock), else ``pending``. A
    ``pending`` run on a thread with an active one violates ``uq_runs_one_active_per_thread``
    (translated to ThreadBusy by the caller). A run with ``delay_seconds`` (after_seconds)
    is created in the future: no worker claims it before its ``created_at``."""
    row = await conn.fetchrow(
        # clock_timestamp(), not now(): the caller holds the thread lock, so this is the
        # order in which runs were queued (now() is when the transaction began, which can
        # be before an earlier-queued run's), and FIFO promotion follows created_at.
        f"""WITH run AS (
              INSERT INTO runs (run_id, thread_id, assistant_id, status, multitask_strategy,
                                metadata, kwargs, temporary, created_at, updated_at)
              SELECT $1, $2, $3,
                     CASE WHEN $4::text <> 'auto' THEN $4::text
                          WHEN EXISTS (SELECT 1 FROM runs WHERE thread_id = $2
                                       AND status IN {ACTIVE_SQL}) THEN 'queued'
                          ELSE 'pending' END,
                     $5, $6, $7, $8,
                     clock_timestamp() + make_interval(secs => $9), clock_timestamp()
              RETURNING {COLUMNS}),
            thread AS (
              UPDATE threads SET status = 'busy', updated_at = now(),
                     metadata = metadata || jsonb_build_object('graph_id', $10::text,
                                                               'assistant_id', $3::text),
                     expires_at = now() + make_interval(secs => ttl_minutes * 60)
               WHERE thread_id = $2 RETURNING 1),
            ready AS (
              SELECT pg_notify('{RUN_READY}', $11) FROM run WHERE status = 'pending')
            SELECT run.*, (SELECT count(*) FROM thread) AS marked,
                   (SELECT count(*) FROM ready) AS notified
              FROM run""",
        run_id,
        thread_id,
        assistant_id,
        status,
        multitask_strategy,
        metadata,
        kwargs,
        temporary,
        delay_seconds,
        graph_id,
        ready_payload,
    )
    assert row is not None
    return row


async def create_on_thread(
    conn: Conn,
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    access: Access,
    assistant_id: uuid.UUID,
    assistant_updated_at: Any,
    graph_ids: list[str],
    graph_id: str,
    strategy: str,
    metadata_before: dict[str, Any],
    metadata_after: dict[str, Any],
    kwargs: dict[str, Any],
    delay_seconds: float,
    ready_payload: str,
) -> asyncpg.Record:
    """A ``reject`` or ``enqueue`` run on an existing thread in one statement (and one
    commit, without an explicit transaction).

    It locks the thread row (as every finish does, so no promotion is missed), checks that
    the caller's copy of the assistant is current (``updated_at``) and visible, then inserts
    the run as ``pending`` unless the one-active-run index already holds a run of the
    thread; then an ``enqueue`` inserts it as ``queued`` instead (the index is checked
    against the latest committed rows, after the lock was granted), a ``reject`` inserts
    nothing. The run's metadata is ``metadata_before || thread metadata || metadata_after``.

    Returns one row: ``thread_found``, ``assistant_ok`` and the run's columns (NULL when
    no run was inserted)."""
    where, assistant = _thread_and_assistant(thread_id, access, assistant_id, graph_ids)
    assistant.add(f"a.updated_at = {assistant.param(assistant_updated_at)}")
    n = len(where.params)
    values = f"""${n + 1}, t.thread_id, ${n + 2}, {{status}}, ${n + 3},
                 ${n + 4}::jsonb || t.metadata || ${n + 5}::jsonb, ${n + 6}, false,
                 clock_timestamp() + make_interval(secs => ${n + 7}), clock_timestamp()"""
    insert = """INSERT INTO runs (run_id, thread_id, assistant_id, status, multitask_strategy,
                                  metadata, kwargs, temporary, created_at, updated_at)"""
    return await conn.fetchrow(
        f"""WITH t AS (
              SELECT t.thread_id, t.metadata FROM threads t WHERE {where.sql()}
                 FOR NO KEY UPDATE OF t),
            a AS (SELECT 1 FROM assistants a WHERE {assistant.sql()}),
            active AS (
              {insert}
              SELECT {values.format(status="'pending'")} FROM t, a
              ON CONFLICT (thread_id) WHERE status IN {ACTIVE_SQL} DO NOTHING
              RETURNING {COLUMNS}),
            queued AS (
              {insert}
              SELECT {values.format(status="'queued'")} FROM t, a
               WHERE ${n + 3} = 'enqueue' AND NOT EXISTS (SELECT 1 FROM active)
              RETURNING {COLUMNS}),
            run AS (SELECT * FROM active UNION ALL SELECT * FROM queued),
            thread AS (
              UPDATE threads SET status = 'busy', updated_at = now(),
                     metadata = metadata || jsonb_build_object('graph_id', ${n + 8}::text,
                                                               'assistant_id', ${n + 2}::text),
                     expires_at = now() + make_interval(secs => ttl_minutes * 60)
               WHERE thread_id = (SELECT thread_id FROM run) RETURNING 1),
            ready AS (SELECT pg_notify('{RUN_READY}', ${n + 9}) FROM active)
            SELECT EXISTS (SELECT 1 FROM t) AS thread_found,
                   EXISTS (SELECT 1 FROM a) AS assistant_ok,
                   (SELECT count(*) FROM thread) AS marked,
                   (SELECT count(*) FROM ready) AS notified, run.*
              FROM (SELECT 1) AS one LEFT JOIN run ON true""",
        *where.params,
        run_id,
        assistant_id,
        strategy,
        metadata_before,
        metadata_after,
        kwargs,
        delay_seconds,
        graph_id,
        ready_payload,
    )


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


async def delete(conn: Conn, run_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM runs WHERE run_id = $1", run_id)


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


async def promote_next(conn: Conn, thread_id: uuid.UUID) -> uuid.UUID | None:
    """Make the oldest queued run of the thread ``pending``, if the thread has no active
    run. Caller holds the thread row lock."""
    value = await conn.fetchval(
        f"""UPDATE runs SET status = 'pending', updated_at = now()
           WHERE run_id = (
             SELECT run_id FROM runs WHERE thread_id = $1 AND status = 'queued'
             ORDER BY created_at, run_id LIMIT 1)
             AND NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = $1
                             AND status IN {ACTIVE_SQL})
           RETURNING run_id""",
        thread_id,
    )
    return value  # type: ignore[no-any-return]


async def claim(conn: Conn, owner: str, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Claim up to ``limit`` pending runs (oldest first) for ``owner``: status ``running``,
    a new lease epoch and a fresh random ``lease_token``, attempt + 1. Rows other workers
    hold are skipped, not waited for.

    Every later write of the attempt is fenced by (epoch, token). The epoch alone could
    repeat: claims commit with ``synchronous_commit=off``, so a PostgreSQL crash (or a
    failover to a lagging replica) can lose a claim that a worker already acted on, and the
    next claim would hand out the same epoch again; the token is never handed out twice."""
    return list(
        await conn.fetch(
            """UPDATE runs r SET status = 'running', attempt = r.attempt + 1,
                   lease_owner = $1, lease_epoch = r.lease_epoch + 1,
                   lease_token = gen_random_uuid(),
                   lease_expires_at = now() + make_interval(secs => $3),
                   started_at = coalesce(r.started_at, now()), updated_at = now()
               FROM (SELECT run_id FROM runs WHERE status = 'pending' AND created_at <= now()
                     ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) picked
               WHERE r.run_id = picked.run_id
               RETURNING r.run_id, r.thread_id, r.assistant_id, r.kwargs, r.metadata,
                         r.attempt, r.lease_epoch, r.lease_token, r.temporary,
                         r.cancel_action""",
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


async def finish(
    conn: Conn,
    run_id: uuid.UUID,
    epoch: int,
    token: uuid.UUID,
    *,
    status: str,
    output: Any,
    error: Any,
) -> bool:
    """Write the terminal status, fenced by the lease (epoch, token); False if the lease was
    lost."""
    row = await conn.fetchval(
        """UPDATE runs SET status = $3, output = $4, error = $5, ended_at = now(),
                           updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
           WHERE run_id = $1 AND lease_epoch = $2 AND lease_token = $6 AND status = 'running'
           RETURNING run_id""",
        run_id,
        epoch,
        status,
        output,
        error,
        token,
    )
    return row is not None


async def lease_held(conn: Conn, run_id: uuid.UUID, epoch: int, token: uuid.UUID) -> bool:
    """Whether the run is still ``running`` under (``epoch``, ``token``); the row stays
    locked for the caller's transaction, so a re-queue or takeover cannot happen before it
    commits."""
    return bool(
        await conn.fetchval(
            "SELECT true FROM runs WHERE run_id = $1 AND lease_epoch = $2 "
            "AND lease_token = $3 AND status = 'running' FOR NO KEY UPDATE",
            run_id,
            epoch,
            token,
        )
    )


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
