"""A run's finish inside the worker's transaction (DESIGN §6: one transaction to finish):
lock, write the outcome, settle the thread; two statements, the last two parts in one (three
when a webhook's outbox row goes between them).

1. ``lock``: the thread row, then the run row under its lease (epoch and token) (the same order as every
   create and cancel, so they serialise without deadlocks), and the checkpoint rows the
   run's writer left to the finish, under both locks.
2. ``write``: the terminal status and output (fenced by the lease), the run's last stream
   events and the thread stream's ``run_done`` event, and the NOTIFYs for readers and
   waiters, which PostgreSQL delivers only if the transaction commits.
3. ``settle``: promote the oldest queued run if no run is active (FIFO, DESIGN I2,
   ``app.db.runs.PROMOTE_NEXT``), then set the thread's status (``app.core.thread_status``,
   or ``busy`` while anything is still pending, running or queued: ``app.db.threads.BUSY``)
   and state. In ``write``'s statement (``then``), its promotion and busy rule leave out
   the ending run, which the statement's snapshot still reads as running, and its
   promotion reads ``write``'s ``fin`` first, so that the one-active-run index finds the
   ending run's row already updated (without, it sees two active runs). On its own
   (``settle``) after a webhook's outbox row.

A run alone on its thread (no queued run, no webhook) finishes with ``finish_alone``
instead: the three parts as one statement without BEGIN and COMMIT, written only where its
one snapshot cannot have missed what a lock wait would have shown; else the above.

A run that ends without an outcome of its own (rolled back by its worker, or cancelled
before it started) is followed by ``release`` instead of ``settle``: the same promotion and
status rule, the thread's state left as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

from app.checkpoint import sql
from app.db.events import events_payload, watched_sql
from app.db.notify import RUN_DONE, RUN_EVENTS, RUN_READY
from app.db.run_batch import Batch
from app.db.runs import PROMOTE_NEXT, promote_next
from app.db.statuses import TERMINAL
from app.db.threads import BUSY, busy
from app.db.types import Conn

_LOCKS = """thread AS (
             SELECT interrupts FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE),
           run AS (
             SELECT 1 FROM runs WHERE run_id = $2 AND lease_epoch = $3 AND lease_token = $4
                AND status = 'running'
             FOR NO KEY UPDATE)"""
_LOCKED = """SELECT EXISTS (SELECT 1 FROM thread) AS thread_exists,
                  (SELECT interrupts FROM thread) AS interrupts,
                  EXISTS (SELECT 1 FROM run) AS held"""
LOCK = f"WITH {_LOCKS}\n{_LOCKED}"
LOCK_AND_PUT = f"WITH {_LOCKS},\n{sql.upsert(5, guard='EXISTS (SELECT 1 FROM run)')}\n{_LOCKED}"
"""``LOCK``, and the checkpoint rows the run's writer left (``RunWriter.hand_over``) written
if the lease is held. The select list takes the locks, thread first (its order is the
order of evaluation); the unread inserts run after it (PostgreSQL runs a data-modifying
CTE nobody reads once the main query is done), under both locks."""


async def lock(
    conn: Conn,
    thread_id: uuid.UUID,
    run_id: uuid.UUID,
    epoch: int,
    token: uuid.UUID,
    state: Batch | None = None,
) -> asyncpg.Record:
    """(thread_exists, interrupts, held): lock the thread and, if the lease is still held
    under (``epoch``, ``token``), the run row, for the rest of the transaction; then write
    ``state``'s checkpoint rows (not its events), only if the lease is held."""
    args: list[Any] = [thread_id, run_id, epoch, token]
    if state is not None and state.has_state:
        args += sql.upsert_args(state.blobs, state.checkpoints, state.writes)
        row = await conn.fetchrow(LOCK_AND_PUT, *args)
    else:
        row = await conn.fetchrow(LOCK, *args)
    assert row is not None
    return row


async def cancel_action(conn: Conn, run_id: uuid.UUID) -> str | None:
    """The cancel action requested for the run, if any."""
    action = await conn.fetchval("SELECT cancel_action FROM runs WHERE run_id = $1", run_id)
    return None if action is None else str(action)


async def holds(conn: Conn, run_id: uuid.UUID, epoch: int, token: uuid.UUID) -> bool:
    """Whether the run is still ``running`` under lease (``epoch``, ``token``) (an attempt
    back from a database fault asks before it resumes). Locks nothing."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = $1 AND lease_epoch = $2 "
            "AND lease_token = $3 AND status = 'running')",
            run_id,
            epoch,
            token,
        )
    )


async def finished_under(conn: Conn, run_id: uuid.UUID, epoch: int, token: uuid.UUID) -> bool:
    """Whether the run ended (or was deleted, as a rollback or ``on_completion="delete"``
    does) while lease (``epoch``, ``token``) was the latest: a finish that lost its commit's
    acknowledgement, then finds the run no longer ``running``, tells "it was us, it is
    done" from "the lease was lost" by this (a re-claim draws a new token; the finish
    leaves the token in place for this). Locks nothing."""
    row = await conn.fetchrow(
        "SELECT status, lease_epoch, lease_token FROM runs WHERE run_id = $1", run_id
    )
    if row is None:
        return True
    return bool(
        row["lease_epoch"] == epoch and row["lease_token"] == token and row["status"] in TERMINAL
    )


@dataclass(frozen=True)
class Settlement:
    """What ``settle`` writes to the thread after a run's outcome (its arguments)."""

    status: str
    values: Any
    interrupts: dict[str, Any]
    error: Any
    ready_payload: str


class Written(NamedTuple):
    finished: bool
    promoted: bool


def _settle_ctes(thread: str, first: int, ending: str | None = None) -> str:
    """``settle``'s CTEs (``promoted``, ``ready``, ``thread``) on thread ``thread`` (SQL),
    its values from parameter ``$first`` on in ``Settlement``'s order; ``ending``: a run
    that a sibling CTE ``fin`` ends (``app.db.runs.promote_next``)."""
    p = [f"${first + i}" for i in range(5)]
    ended = "" if ending is None else "EXISTS (SELECT 1 FROM fin)"
    return f"""promoted AS ({promote_next(thread, ending, ended)}),
            ready AS (SELECT pg_notify('{RUN_READY}', {p[4]}) FROM promoted),
            thread AS (
              UPDATE threads SET status = CASE WHEN {busy(ending)} THEN 'busy' ELSE {p[0]} END,
                     "values" = {p[1]}, interrupts = {p[2]}, error = {p[3]},
                     updated_at = now(), state_updated_at = now()
               WHERE thread_id = {thread}{f" AND {ended}" if ended else ""}
              RETURNING 1)"""


@dataclass(frozen=True)
class Outcome:
    """What ``write`` and ``finish_alone`` write for a run (their arguments): its terminal
    ``status``, ``output`` and ``error`` under lease (``epoch``, ``token``), its last
    stream ``events`` (only while somebody reads the run or its thread live, with
    ``when_watched``) and the thread stream's ``thread_events``; ``checkpoint_id``: the
    attempt's latest root checkpoint committed so far, which must still be there."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    epoch: int
    token: uuid.UUID
    status: str
    output: Any
    error: Any
    events: Sequence[tuple[str, str]] = ()
    thread_events: Sequence[tuple[str, str]] = ()
    checkpoint_id: str | None = None
    when_watched: bool = False


async def write(conn: Conn, outcome: Outcome, then: Settlement | None = None) -> Written:
    """Write the outcome; ``finished`` False (nothing written) if the lease was lost
    meanwhile, or if ``checkpoint_id`` is no longer in the table: PostgreSQL lost commits
    the attempt had seen succeed (a crash with ``synchronous_commit = off``, a failover to
    a replica that had not received them), so the outcome read from the thread's state is
    not the run's. A statement of its own after ``lock``, so that it sees what committed
    while the lock was awaited.

    ``then``: also ``settle`` the thread, in the same statement (one round trip fewer),
    only if the outcome was written; its promotion and busy rule leave out this run, which
    the statement's snapshot still reads as running (``promoted`` tells)."""
    row = await conn.fetchrow(_write_sql(then is not None), *_write_args(outcome, then))
    assert row is not None
    return Written(bool(row["finished"]), bool(row["promoted"]))


class Alone(NamedTuple):
    alone: bool
    """The statement found the thread lock free, nothing committed on the thread since its
    snapshot, and no queued run: it could finish alone (when False it wrote nothing)."""
    held: bool
    finished: bool
    promoted: bool


_ALONE = """lk AS (
              SELECT xmin AS version FROM threads WHERE thread_id = $6
                 FOR NO KEY UPDATE NOWAIT),
            alone AS (
              SELECT 1 FROM lk JOIN threads t ON t.thread_id = $6 AND t.xmin = lk.version
               WHERE NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = $6 AND status = 'queued')),
            run AS (
              SELECT 1 FROM runs WHERE run_id = $1 AND lease_epoch = $2 AND lease_token = $11
                 AND status = 'running' AND EXISTS (SELECT 1 FROM alone)
                 FOR NO KEY UPDATE NOWAIT),"""


async def finish_alone(
    conn: Conn, outcome: Outcome, then: Settlement, state: Batch | None = None
) -> Alone:
    """The whole finish (``lock`` with ``state``, then ``write`` with ``then``) as one
    statement in a transaction of its own (no BEGIN and COMMIT: three round trips fewer),
    for a run alone on its thread. ``conn`` is in no transaction.

    One statement reads one snapshot, taken before its locks; the two-statement finish
    reads after them, and so sees what committed while they were awaited. This one
    therefore writes only if waiting cannot have hidden anything: both locks are taken
    with ``NOWAIT`` (a held lock raises ``asyncpg.LockNotAvailableError``, nothing
    written), the locked thread row is the version its snapshot reads (every statement
    that puts a run on a thread updates its row: ``app.db.run_create``), and the thread
    has no queued run (whose cancel, by a transaction that held the lock, would not show
    in the thread row). ``alone`` False: nothing written; finish with the transaction."""
    args = _write_args(outcome, then)
    put = ""
    if state is not None and state.has_state:
        put = "\n            " + sql.upsert(len(args) + 1, guard="EXISTS (SELECT 1 FROM run)") + ","
        args += sql.upsert_args(state.blobs, state.checkpoints, state.writes)
    row = await conn.fetchrow(_write_sql(True, head=_ALONE + put), *args)
    assert row is not None
    return Alone(*(bool(row[k]) for k in Alone._fields))


def _write_args(o: Outcome, then: Settlement | None) -> list[Any]:
    """``write``'s parameters: $1-$14, then ``then``'s five."""
    names = [e for e, _ in o.events] + [e for e, _ in o.thread_events]
    datas = [d for _, d in o.events] + [d for _, d in o.thread_events]
    own = [True] * len(o.events) + [False] * len(o.thread_events)
    args: list[Any] = [
        o.run_id,
        o.epoch,
        o.status,
        o.output,
        o.error,
        o.thread_id,
        names,
        datas,
        own,
        events_payload(o.run_id, o.thread_id),
        o.token,
        o.checkpoint_id,
        str(o.thread_id),
        o.when_watched,
    ]
    if then is not None:
        args += [then.status, then.values, then.interrupts, then.error, then.ready_payload]
    return args


_WRITE_ARGS = 14


def _write_sql(then: bool, head: str | None = None) -> str:
    """``write``'s statement, settling with ``then``; ``head``: ``finish_alone``'s locks
    (CTEs defining ``alone`` and ``run``), which then guard the outcome."""
    settled, counts = "", "0 AS promoted, 0 AS readied"
    if then:
        settled = ",\n            " + _settle_ctes("$6", _WRITE_ARGS + 1, ending="$1")
        # ``ready`` is read, or PostgreSQL would not run it (it is no data-modifying CTE)
        counts = (
            "(SELECT count(*) FROM promoted) AS promoted, (SELECT count(*) FROM ready) AS readied"
        )
    held, alone = "", ""
    if head is not None:
        held = "\n                 AND EXISTS (SELECT 1 FROM run)"
        alone = (
            ",\n                   EXISTS (SELECT 1 FROM alone) AS alone,"
            " EXISTS (SELECT 1 FROM run) AS held"
        )
    return f"""WITH {head or ""}fin AS (
              UPDATE runs SET status = $3, output = $4, error = $5, ended_at = now(),
                              updated_at = now(), lease_owner = NULL, lease_expires_at = NULL
               WHERE run_id = $1 AND lease_epoch = $2 AND lease_token = $11
                 AND status = 'running'{held}
                 AND ($12::text IS NULL OR EXISTS (
                       SELECT 1 FROM checkpoints WHERE thread_id = $13
                          AND checkpoint_ns = '' AND checkpoint_id = $12))
              RETURNING run_id),
            ev AS (
              INSERT INTO run_events (run_id, thread_id, event, data)
              SELECT CASE WHEN e.own THEN $1::uuid END, $6, e.event, e.data::json
                FROM fin, unnest($7::text[], $8::text[], $9::bool[])
                          WITH ORDINALITY AS e(event, data, own, n)
               WHERE NOT (e.own AND $14) OR {watched_sql("$1", "$6")}
               ORDER BY e.n
              RETURNING 1),
            ping AS (
              SELECT pg_notify('{RUN_EVENTS}', $10), pg_notify('{RUN_DONE}', $1::text)
                FROM fin){settled}
            SELECT (SELECT count(*) FROM fin) AS finished, (SELECT count(*) FROM ev) AS events,
                   (SELECT count(*) FROM ping) AS notified, {counts}{alone}"""


async def settle(conn: Conn, thread_id: uuid.UUID, then: Settlement) -> bool:
    """Promote the next queued run and refresh the thread: ``status``
    (``app.core.thread_status``) unless a run in flight keeps it ``busy``, and its state;
    True if a run was promoted. The caller holds the thread lock."""
    row = await conn.fetchrow(
        f"""WITH {_settle_ctes("$1", 2)}
            SELECT (SELECT count(*) FROM promoted) AS promoted,
                   (SELECT count(*) FROM ready) AS notified""",
        thread_id,
        then.status,
        then.values,
        then.interrupts,
        then.error,
        then.ready_payload,
    )
    assert row is not None
    return bool(row["promoted"])


async def release(conn: Conn, thread_id: uuid.UUID, *, status: str, ready_payload: str) -> bool:
    """After a run left the thread without an outcome of its own (cancelled before it
    started, or rolled back): promote the next queued run and, if no run is in flight any
    more, set the thread's ``status`` (``app.core.thread_status``); its state stays as it
    was. One statement, after the one that ended the run (so it sees that run gone); True
    if a run was promoted. The caller holds the thread lock."""
    row = await conn.fetchrow(
        f"""WITH promoted AS ({PROMOTE_NEXT}),
            ready AS (SELECT pg_notify('{RUN_READY}', $3) FROM promoted),
            thread AS (
              UPDATE threads SET status = $2, updated_at = now()
               WHERE thread_id = $1 AND NOT {BUSY}
              RETURNING 1)
            SELECT (SELECT count(*) FROM promoted) AS promoted,
                   (SELECT count(*) FROM ready) AS notified,
                   (SELECT count(*) FROM thread) AS settled""",
        thread_id,
        status,
        ready_payload,
    )
    assert row is not None
    return bool(row["promoted"])
