"""Lease fencing of checkpoint writes, and periodic ticks taken once across callers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from app.checkpoint.saver import PostgresSaver
from app.checkpoint.sql import LeaseLost
from app.db import periodic
from app.db.pool import create_pool
from tests.db.rows import TOKEN, insert_run


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=1, max_size=12)
    try:
        yield p
    finally:
        await p.close()


async def test_fenced_saver_writes_only_under_its_lease(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn, epoch=1)
    saver = PostgresSaver(pool).fenced(str(rid), 1, TOKEN)
    config = {"configurable": {"thread_id": str(tid), "checkpoint_ns": ""}}
    first = empty_checkpoint()
    stored = await saver.aput(config, first, {"source": "input", "step": -1}, {})
    await saver.aput_writes(stored, [("log", "a")], task_id="t1")
    # A takeover bumps the epoch: the old attempt can no longer write anything.
    async with pool.acquire() as conn:
        await conn.execute("UPDATE runs SET lease_epoch = 2 WHERE run_id = $1", rid)
    second = empty_checkpoint()
    with pytest.raises(LeaseLost):
        await saver.aput(stored, second, {"source": "loop", "step": 0}, {})
    with pytest.raises(LeaseLost):
        await saver.aput_writes(stored, [("log", "b")], task_id="t2")
    # The new holder's saver writes.
    await PostgresSaver(pool).fenced(str(rid), 2, TOKEN).aput(stored, second, {"step": 0}, {})
    async with pool.acquire() as conn:
        ids = await conn.fetch(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = $1 ORDER BY checkpoint_id",
            str(tid),
        )
        writes = await conn.fetch(
            "SELECT task_id FROM checkpoint_writes WHERE thread_id = $1", str(tid)
        )
    assert [r["checkpoint_id"] for r in ids] == [first["id"], second["id"]]
    assert [r["task_id"] for r in writes] == ["t1"]


async def test_a_tick_is_taken_once_by_concurrent_callers(pool: asyncpg.Pool) -> None:
    async def take(owner: str) -> bool:
        async with pool.acquire() as conn:
            return await periodic.take_tick(conn, "job", 60, owner)

    results = await asyncio.gather(*(take(f"w{i}") for i in range(10)))
    assert sum(results) == 1
    # Not due again within the interval; due again once next_at has passed.
    assert not await take("late")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE periodic_jobs SET next_at = now() - interval '1 second'")
    results = await asyncio.gather(*(take(f"v{i}") for i in range(10)))
    assert sum(results) == 1
