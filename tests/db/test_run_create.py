"""The run create's statement (``app.db.run_create.create_on_thread``): a ``reject`` on a
thread seen busy answers without the thread lock and writes nothing; on an idle thread, and
for every queueing strategy, it locks the thread and the one-active-run index decides."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from app.core.access import Access
from app.core.ids import uuid7
from tests.db.rows import create_run, insert_assistant, insert_run


async def _holding_thread_lock(conn: asyncpg.Connection, tid: uuid.UUID) -> asyncpg.Transaction:
    tx = conn.transaction()
    await tx.start()
    await conn.execute("SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", tid)
    return tx


async def _blocked_create(
    a: asyncpg.Connection,
    b: asyncpg.Connection,
    tid: uuid.UUID,
    assistant: tuple[uuid.UUID, Any],
    queue: bool,
) -> asyncio.Task[asyncpg.Record]:
    """A create on ``b`` while ``a`` holds the thread lock, once ``b`` waits for that lock
    (its backend's wait event, not a guessed sleep)."""
    task = asyncio.create_task(create_run(b, tid, assistant, queue=queue))
    pid = b.get_server_pid()
    for _ in range(500):
        if (
            await a.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
            == "Lock"
        ):
            return task
        assert not task.done(), "the create did not wait for the thread lock"
        await asyncio.sleep(0.01)
    raise AssertionError("the create never waited for the thread lock")


async def test_a_reject_on_a_busy_thread_neither_waits_nor_writes(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as a, pool.acquire() as b:
        tid, _ = await insert_run(a)  # a running run: the thread is busy
        assistant = await insert_assistant(a)
        holder = await _holding_thread_lock(a, tid)  # a claim or a finish, say
        try:
            async with b.transaction():
                row = await asyncio.wait_for(create_run(b, tid, assistant, queue=False), 5)
                xid = await b.fetchval("SELECT pg_current_xact_id_if_assigned()")
        finally:
            await holder.rollback()
        assert (row["thread_found"], row["assistant_ok"], row["run_id"]) == (True, True, None)
        assert xid is None  # nothing locked or written: no transaction id, no WAL flush
        assert await a.fetchval("SELECT count(*) FROM runs WHERE thread_id = $1", tid) == 1


async def test_an_enqueue_on_a_busy_thread_waits_for_the_lock_and_queues(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as a, pool.acquire() as b:
        tid, _ = await insert_run(a)
        assistant = await insert_assistant(a)
        holder = await _holding_thread_lock(a, tid)
        try:
            task = await _blocked_create(a, b, tid, assistant, queue=True)
        finally:
            await holder.rollback()
        row = await task
        assert row["status"] == "queued"


async def test_a_reject_on_an_idle_thread_locks_and_inserts(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as a, pool.acquire() as b:
        tid, _ = await insert_run(a, status="success")
        assistant = await insert_assistant(a)
        holder = await _holding_thread_lock(a, tid)
        try:
            task = await _blocked_create(a, b, tid, assistant, queue=False)
            # Meanwhile another run takes the thread; the reject, once granted the lock,
            # meets it in the index and inserts nothing.
            await a.execute(
                "INSERT INTO runs (run_id, thread_id, assistant_id, status) "
                "VALUES ($1, $2, $3, 'pending')",
                uuid7(),
                tid,
                uuid.uuid4(),
            )
        finally:
            await holder.commit()
        row = await task
        assert (row["thread_found"], row["run_id"]) == (True, None)
        again = await create_run(b, uuid7(), assistant, queue=False)  # a missing thread
        assert (again["thread_found"], again["run_id"]) == (False, None)


async def test_a_busy_thread_hidden_from_the_caller_is_not_found(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, _ = await insert_run(conn)
        assistant = await insert_assistant(conn)
        owner = Access(metadata_filters=({"owner": "someone-else"},))
        row = await create_run(conn, tid, assistant, queue=False, access=owner)
        assert (row["thread_found"], row["run_id"]) == (False, None)
        seen = await create_run(conn, tid, assistant, queue=False)
        assert (seen["thread_found"], seen["run_id"]) == (True, None)
