"""The thread counter (``thread_counts``, migration 0015): its sum is ``count(*)`` of threads
after every kind of write, and ``app.db.threads.count`` reads it only without conditions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.core.access import Access
from app.core.ids import uuid7
from app.db import threads as rows
from app.db.access import Where

SHARDS = 16


async def counted(conn: asyncpg.Connection) -> tuple[int, int]:
    """(the counter's sum, ``count(*)`` of threads)."""
    row = await conn.fetchrow(
        "SELECT (SELECT coalesce(sum(n), 0) FROM thread_counts) AS kept, "
        "(SELECT count(*) FROM threads) AS real"
    )
    return int(row["kept"]), int(row["real"])


async def insert_many(
    conn: asyncpg.Connection, n: int, metadata: dict[str, Any] | None = None
) -> None:
    await conn.execute(
        "INSERT INTO threads (thread_id, metadata) "
        "SELECT gen_random_uuid(), $2::jsonb FROM generate_series(1, $1)",
        n,
        metadata or {},
    )


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as c:
        yield c


async def test_sixteen_shards_start_at_zero(conn: asyncpg.Connection) -> None:
    found = await conn.fetch("SELECT shard, n FROM thread_counts ORDER BY shard")
    assert [(r["shard"], r["n"]) for r in found] == [(s, 0) for s in range(SHARDS)]


async def test_inserts_deletes_and_truncate_keep_it_exact(conn: asyncpg.Connection) -> None:
    one = uuid7()
    assert await rows.insert(conn, one, {}) is not None
    assert await counted(conn) == (1, 1)
    assert await rows.insert(conn, one, {}) is None  # ON CONFLICT DO NOTHING: no row
    assert await counted(conn) == (1, 1)

    await insert_many(conn, 500)
    await insert_many(conn, 300, {"doomed": True})
    assert await counted(conn) == (801, 801)
    copied = await rows.copy(conn, one, uuid7(), {})  # INSERT ... SELECT
    assert copied is not None
    assert await counted(conn) == (802, 802)

    await conn.execute("DELETE FROM threads WHERE metadata @> '{\"doomed\": true}'")
    assert await counted(conn) == (502, 502)
    await conn.execute("DELETE FROM threads WHERE false")  # a statement that deletes nothing
    assert await counted(conn) == (502, 502)
    assert await rows.delete(conn, one, Access())
    assert not await rows.delete(conn, one, Access())
    assert await counted(conn) == (501, 501)
    some = [r["thread_id"] for r in await conn.fetch("SELECT thread_id FROM threads LIMIT 40")]
    await rows.delete_many(conn, some)  # the TTL sweep's delete
    assert await counted(conn) == (461, 461)

    await conn.execute("TRUNCATE threads CASCADE")
    assert await counted(conn) == (0, 0)
    await insert_many(conn, 7)
    assert await counted(conn) == (7, 7)


async def test_a_rolled_back_insert_or_delete_leaves_it(conn: asyncpg.Connection) -> None:
    await insert_many(conn, 10)
    tx = conn.transaction()
    await tx.start()
    await insert_many(conn, 5)
    await conn.execute(
        "DELETE FROM threads WHERE thread_id IN (SELECT thread_id FROM threads LIMIT 3)"
    )
    assert await counted(conn) == (12, 12)  # the transaction sees its own writes
    await tx.rollback()
    assert await counted(conn) == (10, 10)


async def test_concurrent_creates_on_several_connections(pool: asyncpg.Pool) -> None:
    """Creates on connections of different shards do not wait for each other (each holds its
    shard's row to its commit), and all of them are counted."""
    conns = [await pool.acquire() for _ in range(10)]
    try:
        by_shard: dict[int, asyncpg.Connection] = {}
        for c in conns:
            by_shard.setdefault(await c.fetchval("SELECT pg_backend_pid() % 16"), c)
        apart = list(by_shard.values())
        assert len(apart) >= 2
        open_txs = []
        for c in apart:
            await c.execute("SET lock_timeout = '5s'")  # a wait on another's row would fail
            tx = c.transaction()
            await tx.start()
            open_txs.append(tx)
        for c in apart:  # every transaction inserts while the others are still open
            await rows.insert(c, uuid7(), {})
        for tx in open_txs:
            await tx.commit()
        for c in apart:
            await c.execute("RESET lock_timeout")

        async def create(c: asyncpg.Connection) -> None:
            for _ in range(25):
                async with c.transaction():
                    await rows.insert(c, uuid7(), {})

        await asyncio.gather(*(create(c) for c in conns))  # same shards too: they queue
        kept, real = await counted(conns[0])
        assert (kept, real) == (len(apart) + 250, len(apart) + 250)
        shards = await conns[0].fetchval("SELECT count(*) FROM thread_counts WHERE n > 0")
        assert shards == len(apart)
    finally:
        for c in conns:
            await pool.release(c)


async def test_count_reads_the_counter_only_without_conditions(conn: asyncpg.Connection) -> None:
    await insert_many(conn, 20, {"owner": "alice"})
    await insert_many(conn, 5, {"owner": "bob"})
    assert await rows.count(conn, Where()) == 25

    bob = Where()
    Access(({"owner": "bob"},)).apply(bob)  # custom auth's owner filter
    assert await rows.count(conn, bob) == 5
    filtered = Where()
    rows.filters(filtered, metadata={"owner": "alice"}, status="idle")
    assert await rows.count(conn, filtered) == 20
    ids = Where()
    rows.filters(ids, ids=[uuid.uuid4()])
    assert await rows.count(conn, ids) == 0

    async with conn.transaction():  # the counter, not the rows, answers the unfiltered count
        await conn.execute("UPDATE thread_counts SET n = n + 1000 WHERE shard = 3")
        assert await rows.count(conn, Where()) == 1025
        assert await rows.count(conn, bob) == 5
        await conn.execute("UPDATE thread_counts SET n = n - 1000 WHERE shard = 3")


async def test_every_trigger_is_there(conn: asyncpg.Connection) -> None:
    found = await conn.fetch(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'threads'::regclass AND NOT tgisinternal"
    )
    assert {r["tgname"] for r in found} == {
        "thread_counts_insert",
        "thread_counts_delete",
        "thread_counts_truncate",
    }
