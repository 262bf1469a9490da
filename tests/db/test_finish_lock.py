"""The finish's first statement (``app.db.outcome.lock`` with the state the run's writer
left): the thread lock first, then the run row, then the checkpoint rows, and those only
under the run's lease."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from app.db import outcome
from app.db.run_batch import Batch
from tests.db.rows import TOKEN, insert_run


def _state(tid: uuid.UUID, rid: uuid.UUID) -> tuple[Batch, str]:
    cid = empty_checkpoint()["id"]
    batch = Batch(
        checkpoints={(str(tid), "", cid): (None, str(rid), "{}", "{}")},
        blobs=[(str(tid), "", "label", "1", "json", b'"a"')],
        writes={(str(tid), "", cid, "t1", 0): ("", str(rid), "log", "json", b'"x"')},
        events=[("values", "{}")],
    )
    return batch, cid


async def _rows(conn: asyncpg.Connection, tid: uuid.UUID) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = $1) AS cps,
                  (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = $1) AS bl,
                  (SELECT count(*) FROM checkpoint_writes WHERE thread_id = $1) AS ws""",
        str(tid),
    )
    return row["cps"], row["bl"], row["ws"]


@pytest.mark.parametrize(("token", "written"), [(TOKEN, (1, 1, 1)), (uuid.uuid4(), (0, 0, 0))])
async def test_the_state_is_written_only_under_the_lease(
    pool: asyncpg.Pool, token: uuid.UUID, written: tuple[int, int, int]
) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
        state, _ = _state(tid, rid)
        async with conn.transaction():
            locked = await outcome.lock(conn, tid, rid, 1, token, state)
            assert (locked["thread_exists"], locked["held"]) == (True, token == TOKEN)
        assert await _rows(conn, tid) == written
        assert await conn.fetchval("SELECT count(*) FROM run_events WHERE run_id = $1", rid) == 0


async def test_the_thread_is_locked_before_the_run_row_and_the_rows(pool: asyncpg.Pool) -> None:
    """While the statement waits for the thread lock (held by a create, say), it has locked
    no run row and written nothing: the lock order of every create and cancel holds."""
    async with pool.acquire() as a, pool.acquire() as b, pool.acquire() as c:
        tid, rid = await insert_run(a)
        state, cid = _state(tid, rid)
        holder = a.transaction()
        await holder.start()
        await a.execute("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", tid)

        async def finish() -> asyncpg.Record:
            async with b.transaction():
                return await outcome.lock(b, tid, rid, 1, TOKEN, state)

        task = asyncio.create_task(finish())
        pid = b.get_server_pid()
        for _ in range(500):  # wait on the row lock itself, not a sleep of a guessed length
            waiting = await c.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waiting == "Lock":
                break
            await asyncio.sleep(0.01)
        assert waiting == "Lock"
        # The run row is free (NOWAIT would raise otherwise), and the checkpoint's key too
        # (an insert of it would wait for the statement's uncommitted one until the timeout).
        probe = c.transaction()
        await probe.start()
        await c.execute("SET LOCAL lock_timeout = '200ms'")
        await c.execute("SELECT 1 FROM runs WHERE run_id = $1 FOR NO KEY UPDATE NOWAIT", rid)
        await c.execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_id, checkpoint) VALUES ($1, $2, '{}')",
            str(tid),
            cid,
        )
        await probe.rollback()
        await holder.rollback()
        locked = await task
        assert locked["held"]
        assert await _rows(c, tid) == (1, 1, 1)
