"""The HNSW path of semantic store search (app/db/store_vectors.py) on a PostgreSQL with
pgvector (one private cluster for the module, from the embedded binaries): a store past
``HNSW_FROM`` vectors walks the index, and a filtered search still returns every match up
to ``limit`` when the walk gives up early; a smaller store scores every vector (exact, even
an item unlike any other is found); items with several embedded fields come back once
each, ranked by their best field."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from app.db import migrate
from app.db import store as rows
from app.db import store_vectors as vector_rows
from app.db.pool import create_pool
from app.store.index import text_hash
from tests.cluster import private_cluster
from tests.projects.memory.embed import embed

INDEX = "store_vectors_hnsw_vector_64_ip"
BIG = vector_rows.HNSW_FROM + 500
GOLD = (5, 5005, 9005)


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


def _text(text: str) -> list[float]:
    return _unit(embed([text])[0])


def _random(rng: random.Random) -> list[float]:
    return _unit([rng.gauss(0, 1) for _ in range(64)])


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    """Three migrated databases: ``big`` (BIG random vectors under ``crowd.u<n>``, one item
    in ten of kind "some", three of tier "gold"), ``small`` (the app's puts: a needle and
    items with three fields) and ``wide`` (empty), each filled by its first test."""
    with private_cluster() as cluster:
        migrate.upgrade(cluster.create_database("template"))
        out = {}
        for name in ("big", "small", "wide"):
            cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE template')
            out[name] = cluster.url(name)
        yield out


async def _pool(url: str) -> asyncpg.Pool:
    return await create_pool(url, min_size=1, max_size=1)


@pytest.fixture
async def big(urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(urls["big"])  # plain: COPY sends JSON as text
    try:
        if not await conn.fetchval("SELECT count(*) FROM store_items"):
            rng = random.Random(17)
            keys = [(f"crowd.u{i % 10}", f"k{i}") for i in range(BIG)]
            kinds = ["some" if i % 10 == 0 else "common" for i in range(BIG)]
            await conn.copy_records_to_table(
                "store_items",
                records=[
                    (p, k, f'{{"kind": "{kind}", "tier": "{"gold" if i in GOLD else "base"}"}}')
                    for i, ((p, k), kind) in enumerate(zip(keys, kinds, strict=True))
                ],
                columns=["prefix", "key", "value"],
            )
            await conn.copy_records_to_table(
                "store_vectors",
                records=[(p, k, "$", "-", _random(rng)) for p, k in keys],
                columns=["prefix", "key", "field", "text_hash", "embedding"],
            )
            assert await vector_rows.ensure_hnsw(conn, 64) == INDEX
            await conn.execute("ANALYZE store_items; ANALYZE store_vectors")
    finally:
        await conn.close()
    pool = await _pool(urls["big"])
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def small(urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    pool = await _pool(urls["small"])
    try:
        async with pool.acquire() as conn:
            if not await conn.fetchval("SELECT count(*) FROM store_items"):
                rng = random.Random(17)
                words = [
                    "cat",
                    "dog",
                    "tea",
                    "coffee",
                    "rain",
                    "sun",
                    "book",
                    "music",
                    "train",
                    "garden",
                    "river",
                ]
                for i in range(1200):
                    await _put(conn, ["crowd"], f"k{i}", " ".join(rng.choices(words, k=6)), 1)
                await _put(conn, ["crowd"], "needle", "zebra quartz violin", 1)
                for i in range(20):
                    text = " ".join(rng.choices(["alpha", "beta", "gamma", "delta"], k=4))
                    await _put(conn, ["multi"], f"m{i}", text, 3)
                assert await vector_rows.ensure_hnsw(conn, 64) == INDEX
                await conn.execute("ANALYZE store_items; ANALYZE store_vectors")
        yield pool
    finally:
        await pool.close()


async def _put(conn: Any, ns: list[str], key: str, text: str, fields: int) -> None:
    await rows.put(conn, ns, key, {"text": text}, None)
    changed = [(f"f{i}", text_hash(text), _text(text)) for i in range(fields)]
    await vector_rows.replace(conn, ns, key, [f for f, _, _ in changed], changed)


async def _search(conn: Any, prefix: list[str], query: list[float], **kw: Any) -> Any:
    """The search with pgvector, and how often it scanned the HNSW index (this
    transaction's statistics)."""
    async with conn.transaction():
        found = await vector_rows.search(
            conn, prefix, query, filter=kw.pop("filter", None), pgvector=True, **kw
        )
        scans = await conn.fetchval(f"SELECT pg_stat_get_xact_numscans('{INDEX}'::regclass)")
    return found, int(scans)


def _keys(found: list[Any]) -> list[tuple[str, float]]:
    return [(r["key"], round(r["score"], 5)) for r in found]


async def test_a_big_store_walks_the_index(big: asyncpg.Pool) -> None:
    query = _random(random.Random(1))
    async with big.acquire() as conn:
        found, scans = await _search(conn, ["crowd"], query, limit=10, offset=0)
        exact = await vector_rows.exact(conn, ["crowd"], query, None, BIG, 0, pgvector=True)
    assert scans > 0
    assert len(found) == 10
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True)
    by_key = {r["key"]: r["score"] for r in exact}  # each score is the item's exact one
    assert all(abs(r["score"] - by_key[r["key"]]) < 1e-6 for r in found)


@pytest.mark.parametrize(
    ("filter", "limit", "expected"),
    [({"kind": {"$ne": "common"}}, 25, 25), ({"tier": {"$ne": "base"}}, 10, 3)],
)
async def test_a_filtered_search_returns_every_match_up_to_its_limit(
    big: asyncpg.Pool, filter: dict[str, Any], limit: int, expected: int
) -> None:
    """pgvector's walk gives up after ``hnsw.max_scan_tuples`` (made tiny here): the exact
    ranking then answers. (``$ne`` filters: the planner expects most items to pass, so it
    walks the index; it scores every match exactly when it expects few to.)"""
    query = _random(random.Random(2))
    async with big.acquire() as conn:
        await conn.execute("SET hnsw.max_scan_tuples = 20")
        try:
            found, scans = await _search(conn, [], query, filter=filter, limit=limit, offset=0)
        finally:
            await conn.execute("RESET hnsw.max_scan_tuples")
        exact = await vector_rows.exact(conn, [], query, filter, BIG, 0, pgvector=True)
    assert scans > 0
    assert len(found) == expected
    by_key = {r["key"]: r["score"] for r in exact}  # every match, with its exact score
    assert all(abs(r["score"] - by_key[r["key"]]) < 1e-6 for r in found)
    if expected < limit:  # all of them: the exact ranking
        assert _keys(found) == _keys(exact)


async def test_a_small_store_is_ranked_exactly(small: asyncpg.Pool) -> None:
    query = _text("zebra quartz violin")
    async with small.acquire() as conn:
        found, scans = await _search(conn, ["crowd"], query, limit=10, offset=0)
        exact = await vector_rows.exact(conn, ["crowd"], query, None, 10, 0, pgvector=True)
    assert scans == 0
    assert found[0]["key"] == "needle"
    assert _keys(found) == _keys(exact)


async def test_items_with_several_fields_come_once_by_their_best(small: asyncpg.Pool) -> None:
    query = _text("alpha beta")
    async with small.acquire() as conn:
        first, _ = await _search(conn, ["multi"], query, limit=10, offset=0)
        then, _ = await _search(conn, ["multi"], query, limit=10, offset=10)
        exact = await vector_rows.exact(conn, ["multi"], query, None, 20, 0, pgvector=True)
    assert len({r["key"] for r in first + then}) == 20
    assert _keys(first + then) == _keys(exact)


async def test_processes_starting_together_build_the_index_once(
    small: asyncpg.Pool, urls: dict[str, str]
) -> None:
    """Two processes' start-time ``ensure_hnsw`` at once (the index dropped first): both
    succeed, one index is built (without the advisory lock the second CREATE fails)."""
    async with small.acquire() as conn:
        await vector_rows.drop_hnsw(conn)
    conns = [await asyncpg.connect(urls["small"]) for _ in range(2)]
    try:
        built = await asyncio.gather(*(vector_rows.ensure_hnsw(c, 64) for c in conns))
        names = await conns[0].fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'store_vectors_hnsw%'"
        )
    finally:
        for c in conns:
            await c.close()
    assert built == [INDEX, INDEX]
    assert [r["indexname"] for r in names] == [INDEX]


@pytest.mark.parametrize(
    ("dims", "name"), [(2048, "store_vectors_hnsw_halfvec_2048_ip"), (4001, None)]
)
async def test_wide_embeddings_index_as_halfvec_and_none_past_4000(
    urls: dict[str, str], dims: int, name: str | None
) -> None:
    rng = random.Random(dims)
    conn = await asyncpg.connect(urls["wide"])
    try:
        await vector_rows.drop_hnsw(conn)
        await conn.execute("TRUNCATE store_items CASCADE")
        keys = [("wide", f"w{i}") for i in range(20)]
        vectors = [_unit([rng.gauss(0, 1) for _ in range(dims)]) for _ in keys]
        await conn.copy_records_to_table(
            "store_items",
            records=[(p, k, "{}") for p, k in keys],
            columns=["prefix", "key", "value"],
        )
        await conn.copy_records_to_table(
            "store_vectors",
            records=[(p, k, "$", "-", v) for (p, k), v in zip(keys, vectors, strict=True)],
            columns=["prefix", "key", "field", "text_hash", "embedding"],
        )
        assert await vector_rows.ensure_hnsw(conn, dims) == name
        found = await vector_rows.search(
            conn, ["wide"], vectors[4], filter=None, limit=3, offset=0, pgvector=True
        )
    finally:
        await conn.close()
    assert [r["key"] for r in found][:1] == ["w4"]
    assert abs(found[0]["score"] - 1) < 1e-5
    assert len(found) == 3
