"""The savers under test: the plain ``PostgresSaver`` (the API's state reads and updates) and
the saver exactly as a run uses it: ``buffered`` through a ``RunWriter`` on the workers'
relaxed pool, under a running run's lease (app.worker.executor)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.checkpoint import PostgresSaver
from app.db.pool import create_pool
from app.worker.writer import RunWriter
from tests.db.rows import TOKEN, insert_run

KINDS = ["plain", "run"]


@pytest.fixture
async def relaxed(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The pool run writers use with the default durability (``async``)."""
    p = await create_pool(database_url, min_size=1, max_size=4, relaxed=True)
    try:
        yield p
    finally:
        await p.close()


@contextlib.asynccontextmanager
async def saver_of(
    kind: str, pool: asyncpg.Pool, relaxed: asyncpg.Pool
) -> AsyncIterator[PostgresSaver]:
    """A saver of ``kind``; a run's saver checks at the end that its writer committed
    everything and never lost its lease."""
    if kind == "plain":
        yield PostgresSaver(pool)
        return
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
    writer = RunWriter(relaxed, rid, tid, 1, TOKEN)
    try:
        yield PostgresSaver(pool).buffered(writer)
        assert await writer.close() == []
        assert not writer.lease_lost
    finally:
        writer.abandon()


@pytest.fixture(params=KINDS)
async def saver(
    request: pytest.FixtureRequest, pool: asyncpg.Pool, relaxed: asyncpg.Pool
) -> AsyncIterator[PostgresSaver]:
    async with saver_of(request.param, pool, relaxed) as s:
        yield s
