"""The finish's outcome and settlement in one statement (``app.db.outcome.write`` with
``then``): the next queued run is promoted although the statement's snapshot still reads the
ending run as running, the thread is busy while a run is in flight and takes the run's
status otherwise, and the ``run_ready`` NOTIFY is sent; nothing of it if the lease is lost."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from app.core.ids import uuid7
from app.db import outcome
from app.db.notify import RUN_READY
from tests.db.rows import TOKEN, insert_run

THEN = outcome.Settlement(
    status="idle", values={"v": 1}, interrupts={}, error=None, ready_payload="ready-1"
)


async def _queue(conn: asyncpg.Connection, tid: uuid.UUID, n: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(n):
        ids.append(uuid7())
        await conn.execute(
            "INSERT INTO runs (run_id, thread_id, assistant_id, status, created_at) "
            "VALUES ($1, $2, $3, 'queued', clock_timestamp())",
            ids[-1],
            tid,
            uuid.uuid4(),
        )
    return ids


async def _finish(
    conn: asyncpg.Connection, tid: uuid.UUID, rid: uuid.UUID, token: uuid.UUID = TOKEN
) -> outcome.Written:
    async with conn.transaction():
        await outcome.lock(conn, tid, rid, 1, token)
        return await outcome.write(
            conn, outcome.Outcome(rid, tid, 1, token, "success", {"v": 1}, None), THEN
        )


async def _statuses(conn: asyncpg.Connection, tid: uuid.UUID) -> tuple[str, list[str]]:
    thread = await conn.fetchval("SELECT status FROM threads WHERE thread_id = $1", tid)
    runs = await conn.fetch(
        "SELECT status FROM runs WHERE thread_id = $1 ORDER BY created_at, run_id", tid
    )
    return thread, [r["status"] for r in runs]


@pytest.mark.parametrize("queued", [0, 2])
async def test_the_outcome_settles_the_thread_in_the_same_statement(
    pool: asyncpg.Pool, queued: int
) -> None:
    async with pool.acquire() as conn, pool.acquire() as listener:
        tid, rid = await insert_run(conn)
        await conn.execute("UPDATE threads SET status = 'busy' WHERE thread_id = $1", tid)
        waiting = await _queue(conn, tid, queued)
        heard: asyncio.Queue[str] = asyncio.Queue()

        def hear(*args: object) -> None:
            heard.put_nowait(str(args[3]))

        await listener.add_listener(RUN_READY, hear)
        written = await _finish(conn, tid, rid)
        assert written == outcome.Written(finished=True, promoted=queued > 0)
        thread, runs = await _statuses(conn, tid)
        values = await conn.fetchval('SELECT "values" FROM threads WHERE thread_id = $1', tid)
        assert values == {"v": 1}
        if queued:  # the oldest queued run is promoted, the thread stays busy
            assert (thread, runs) == ("busy", ["success", "pending", "queued"])
            assert await asyncio.wait_for(heard.get(), 5) == "ready-1"
            assert (
                await conn.fetchval(
                    "SELECT run_id FROM runs WHERE status = 'pending' AND thread_id = $1", tid
                )
                == waiting[0]
            )
        else:
            assert (thread, runs) == ("idle", ["success"])
            await listener.execute("SELECT 1")  # a NOTIFY would have arrived before this
            assert heard.empty()
        await listener.remove_listener(RUN_READY, hear)


async def test_a_lost_lease_neither_ends_nor_settles(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
        await conn.execute("UPDATE threads SET status = 'busy' WHERE thread_id = $1", tid)
        await _queue(conn, tid, 1)
        written = await _finish(conn, tid, rid, token=uuid.uuid4())
        assert written == outcome.Written(finished=False, promoted=False)
        assert await _statuses(conn, tid) == ("busy", ["running", "queued"])
