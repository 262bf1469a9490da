"""The finish as one statement (``app.db.outcome.finish_alone``): a run alone on its thread
ends, writes its last checkpoint rows and settles the thread without BEGIN and COMMIT; when
anything could have changed the thread between the statement's snapshot and its locks (a
held lock, a run put on the thread meanwhile, a queued run) it writes nothing, and the
transaction finishes instead."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from app.core.ids import uuid7
from app.db import outcome
from app.db.run_batch import Batch
from tests.db.rows import TOKEN, create_run, insert_assistant, insert_run

THEN = outcome.Settlement(
    status="idle", values={"v": 1}, interrupts={}, error=None, ready_payload="ready-1"
)
GATE = 4242
"""An advisory lock the gated statement waits for after its snapshot, before its locks."""


def _state(tid: uuid.UUID) -> tuple[Batch, str]:
    cid = str(uuid7())
    batch = Batch()
    batch.checkpoints[(str(tid), "", cid)] = (None, None, json.dumps({"id": cid}), "{}")
    batch.blobs.append((str(tid), "", "v", "1", "msgpack", b"\x01"))
    return batch, cid


async def _finish_alone(
    conn: asyncpg.Connection,
    tid: uuid.UUID,
    rid: uuid.UUID,
    token: uuid.UUID = TOKEN,
    state: Batch | None = None,
) -> outcome.Alone:
    return await outcome.finish_alone(conn, _ended(tid, rid, token), THEN, state)


def _ended(tid: uuid.UUID, rid: uuid.UUID, token: uuid.UUID = TOKEN) -> outcome.Outcome:
    return outcome.Outcome(
        rid, tid, 1, token, "success", {"v": 1}, None, thread_events=[("run_done", "{}")]
    )


async def _busy_run(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    tid, rid = await insert_run(conn)
    await conn.execute("UPDATE threads SET status = 'busy' WHERE thread_id = $1", tid)
    return tid, rid


async def _statuses(conn: asyncpg.Connection, tid: uuid.UUID) -> tuple[str, list[str]]:
    thread = await conn.fetchval("SELECT status FROM threads WHERE thread_id = $1", tid)
    runs = await conn.fetch(
        "SELECT status FROM runs WHERE thread_id = $1 ORDER BY created_at, run_id", tid
    )
    return thread, [r["status"] for r in runs]


async def _written(conn: asyncpg.Connection, tid: uuid.UUID) -> tuple[int, int]:
    """(checkpoint rows, thread events) of the thread."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = $1) AS cps,"
        " (SELECT count(*) FROM run_events WHERE thread_id = $2) AS events",
        str(tid),
        tid,
    )
    assert row is not None
    return row["cps"], row["events"]


async def test_a_run_alone_finishes_in_one_statement(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await _busy_run(conn)
        state, cid = _state(tid)
        done = await _finish_alone(conn, tid, rid, state=state)
        assert done == outcome.Alone(alone=True, held=True, finished=True, promoted=False)
        assert await _statuses(conn, tid) == ("idle", ["success"])
        assert await conn.fetchval('SELECT "values" FROM threads WHERE thread_id = $1', tid) == {
            "v": 1
        }
        assert await _written(conn, tid) == (1, 1)
        assert (
            await conn.fetchval(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = $1", str(tid)
            )
            == cid
        )


async def test_a_held_thread_lock_leaves_it_to_the_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as a, pool.acquire() as b:
        tid, rid = await _busy_run(a)
        async with a.transaction():  # a create or a cancel, say
            await a.execute("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", tid)
            with pytest.raises(asyncpg.LockNotAvailableError):
                await asyncio.wait_for(_finish_alone(b, tid, rid, state=_state(tid)[0]), 5)
        assert await _statuses(a, tid) == ("busy", ["running"])
        assert await _written(a, tid) == (0, 0)


async def test_a_queued_run_leaves_it_to_the_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await _busy_run(conn)
        assistant = await insert_assistant(conn)
        queued = await create_run(conn, tid, assistant, queue=True)
        assert queued["status"] == "queued"
        done = await _finish_alone(conn, tid, rid, state=_state(tid)[0])
        assert done == outcome.Alone(alone=False, held=False, finished=False, promoted=False)
        assert await _statuses(conn, tid) == ("busy", ["running", "queued"])
        assert await _written(conn, tid) == (0, 0)


async def test_a_run_queued_after_its_snapshot_leaves_it_to_the_transaction(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window the design closes: the statement has its snapshot, then a create queues a
    run on the thread and commits, releasing the thread lock, before the statement takes it
    (here the statement waits for an advisory lock in between, so it happens every time).
    The snapshot does not see the queued run; the thread row's new version tells."""
    gated = outcome._ALONE.replace(
        "lk AS (", f"gate AS (SELECT pg_advisory_xact_lock({GATE})),\n            lk AS (", 1
    ).replace("WHERE thread_id = $6\n", "WHERE thread_id = $6 AND EXISTS (SELECT 1 FROM gate)\n", 1)
    assert gated.count("gate") == 2
    monkeypatch.setattr(outcome, "_ALONE", gated)
    async with pool.acquire() as a, pool.acquire() as b:
        tid, rid = await _busy_run(a)
        assistant = await insert_assistant(a)
        await a.execute("SELECT pg_advisory_lock($1)", GATE)
        task = asyncio.create_task(_finish_alone(b, tid, rid, state=_state(tid)[0]))
        try:
            await _until_waiting_for_the_gate(a, b.get_server_pid(), task)
            queued = await create_run(a, tid, assistant, queue=True)  # commits
            assert queued["status"] == "queued"
        finally:
            await a.execute("SELECT pg_advisory_unlock($1)", GATE)
        done = await asyncio.wait_for(task, 5)
        assert done == outcome.Alone(alone=False, held=False, finished=False, promoted=False)
        assert await _statuses(a, tid) == ("busy", ["running", "queued"])
        assert await _written(a, tid) == (0, 0)
        # The transaction, which reads after its lock, then promotes the queued run.
        async with a.transaction():
            await outcome.lock(a, tid, rid, 1, TOKEN)
            written = await outcome.write(a, _ended(tid, rid), THEN)
        assert written == outcome.Written(finished=True, promoted=True)
        assert await _statuses(a, tid) == ("busy", ["success", "pending"])


async def test_a_lost_lease_writes_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await _busy_run(conn)
        done = await _finish_alone(conn, tid, rid, token=uuid.uuid4(), state=_state(tid)[0])
        assert done == outcome.Alone(alone=True, held=False, finished=False, promoted=False)
        assert await _statuses(conn, tid) == ("busy", ["running"])
        assert await _written(conn, tid) == (0, 0)


async def _until_waiting_for_the_gate(
    conn: asyncpg.Connection, pid: int, task: asyncio.Task[outcome.Alone]
) -> None:
    """Until backend ``pid`` waits for the advisory lock (its wait event, not a sleep)."""
    for _ in range(500):
        event = await conn.fetchval("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", pid)
        if event == "advisory":
            return
        assert not task.done(), "the statement did not wait at the gate"
        await asyncio.sleep(0.01)
    raise AssertionError("the statement never waited at the gate")
