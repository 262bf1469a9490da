"""The statement that creates a run (API.md §5.1, DESIGN I1-I2).

One statement, and no other, puts a run on a thread: it locks the thread row (as every
finish does, so no promotion is missed), checks the assistant, and inserts the run under the
one-active-run index, which alone decides whether a run goes in (a ``reject`` that reads an
active run on the thread first inserts nothing and locks nothing). A missing thread is
inserted first (``threads.insert``) in the same transaction; an interrupt or rollback
supersedes the thread's runs first (``app.services.runs``). Callers own the transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.access import Access
from app.db.access import Where
from app.db.notify import RUN_READY
from app.db.runs import COLUMNS
from app.db.statuses import ACTIVE_SQL
from app.db.types import Conn

INSERT = """INSERT INTO runs (run_id, thread_id, assistant_id, status, multitask_strategy,
                              metadata, kwargs, temporary, created_at, updated_at)"""


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
    queue: bool,
    temporary: bool,
    metadata_before: dict[str, Any],
    metadata_after: dict[str, Any],
    kwargs: dict[str, Any],
    delay_seconds: float,
    ready_payload: str,
) -> asyncpg.Record:
    """A run on an existing thread, in one statement (and one commit, without an explicit
    transaction).

    It locks the thread row, checks that the caller's copy of the assistant is current
    (``updated_at``) and visible, then inserts the run as ``pending`` unless the
    one-active-run index already holds a run of the thread; then, with ``queue``, it
    inserts it as ``queued`` instead (the index is checked against the latest committed
    rows, after the lock was granted), without, nothing. A ``pending`` run queues its
    ``run_ready`` NOTIFY; the thread is marked busy, and its config's ``configurable`` is
    the assistant's (as the reference server shows it). The run's metadata is
    ``metadata_before || thread metadata || metadata_after``. ``clock_timestamp()``, not
    ``now()``: under the thread lock it is the order in which runs were queued, which FIFO
    promotion follows; a run with ``delay_seconds`` (after_seconds) is created in the
    future, and no worker claims it before its ``created_at``.

    Without ``queue`` (a ``reject``), a thread seen busy (an active run in the statement's
    snapshot) is answered busy without the lock: the statement then writes nothing, takes
    no transaction id and commits without a WAL flush, and it does not wait behind the
    worker's claim or a finish holding the thread row. A ``reject`` on a thread seen idle
    locks and inserts as above, so the index still decides.

    Returns one row: ``thread_found``, ``assistant_ok`` and the run's columns (NULL when
    no run was inserted)."""
    where, assistant = _thread_and_assistant(thread_id, access, assistant_id, graph_ids)
    assistant.add(f"a.updated_at = {assistant.param(assistant_updated_at)}")
    n = len(where.params)
    values = f"""${n + 1}, t.thread_id, ${n + 2}, {{status}}, ${n + 3},
                 ${n + 4}::jsonb || t.metadata || ${n + 5}::jsonb, ${n + 6}, ${n + 11},
                 clock_timestamp() + make_interval(secs => ${n + 7}), clock_timestamp()"""
    return await conn.fetchrow(
        f"""WITH busy AS (
              SELECT 1 FROM threads t JOIN runs r ON r.thread_id = t.thread_id
               WHERE {where.sql()} AND NOT ${n + 10} AND r.status IN {ACTIVE_SQL} LIMIT 1),
            t AS (
              SELECT t.thread_id, t.metadata FROM threads t
               WHERE {where.sql()} AND NOT EXISTS (SELECT 1 FROM busy)
                 FOR NO KEY UPDATE OF t),
            a AS (SELECT a.config FROM assistants a WHERE {assistant.sql()}),
            active AS (
              {INSERT}
              SELECT {values.format(status="'pending'")} FROM t, a
              ON CONFLICT (thread_id) WHERE status IN {ACTIVE_SQL} DO NOTHING
              RETURNING {COLUMNS}),
            queued AS (
              {INSERT}
              SELECT {values.format(status="'queued'")} FROM t, a
               WHERE ${n + 10} AND NOT EXISTS (SELECT 1 FROM active)
              RETURNING {COLUMNS}),
            run AS (SELECT * FROM active UNION ALL SELECT * FROM queued),
            thread AS (
              UPDATE threads SET status = 'busy', updated_at = now(),
                     metadata = metadata || jsonb_build_object('graph_id', ${n + 8}::text,
                                                               'assistant_id', ${n + 2}::text),
                     config = config || jsonb_build_object('configurable', coalesce(
                                (SELECT a.config -> 'configurable' FROM a), '{{}}'::jsonb)),
                     expires_at = now() + make_interval(secs => ttl_minutes * 60)
               WHERE thread_id = (SELECT thread_id FROM run) RETURNING 1),
            ready AS (SELECT pg_notify('{RUN_READY}', ${n + 9}) FROM active)
            SELECT EXISTS (SELECT 1 FROM t) OR EXISTS (SELECT 1 FROM busy) AS thread_found,
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
        queue,
        temporary,
    )
