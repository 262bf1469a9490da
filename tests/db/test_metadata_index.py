"""The metadata GIN index (``jsonb_path_ops``, migration 0016) answers every metadata filter
the API builds exactly as the containment itself does, read through the index or not."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.core.access import Access
from app.db import threads as rows
from app.db.access import Where

DOCUMENTS: list[dict[str, Any]] = [
    {"user_id": "u1", "n": 3, "tags": ["a", "b"], "nested": {"k": "v", "deep": {"x": 1}}},
    {"user_id": "u1", "n": 4, "tags": ["b"], "nested": {}, "flag": True},
    {"user_id": "u2", "n": 3, "tags": [], "flag": False, "none": None},
    {"user_id": "u2", "owner": "alice", "nested": {"k": "w"}},
    {"owner": "alice", "n": 3.0, "tags": ["a"]},
    {},
]

FILTERS: list[dict[str, Any]] = [
    {"user_id": "u1"},
    {"n": 3},
    {"flag": True},
    {"flag": False},
    {"none": None},
    {"tags": ["a"]},
    {"tags": ["b", "a"]},
    {"tags": []},
    {"nested": {"k": "v"}},
    {"nested": {"deep": {"x": 1}}},
    {"nested": {}},
    {"user_id": "u1", "n": 3},
    {"user_id": "u2", "owner": "alice"},
    {"missing": "x"},
    {"user_id": ["u1"]},
]


def contains(doc: Any, query: Any) -> bool:
    """PostgreSQL's ``jsonb @>``, in Python: the expected answer."""
    if isinstance(query, dict):
        return isinstance(doc, dict) and all(
            k in doc and contains(doc[k], v) for k, v in query.items()
        )
    if isinstance(query, list):
        return isinstance(doc, list) and all(any(contains(d, q) for d in doc) for q in query)
    if isinstance(query, bool) or isinstance(doc, bool):
        return type(query) is type(doc) and query == doc
    return bool(doc == query)


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as c:
        yield c


async def matching(conn: asyncpg.Connection, where: Where, *, index: bool) -> set[uuid.UUID]:
    """The ids matching ``where``, the planner made to read the index or to scan the table."""
    async with conn.transaction():
        if index:
            await conn.execute("SET LOCAL enable_seqscan = off")
        else:
            await conn.execute("SET LOCAL enable_bitmapscan = off")
        query = f"SELECT thread_id FROM threads WHERE {where.sql()}"
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {query}", *where.params))
        assert ("ix_threads_metadata" in plan) == index, plan
        return {r["thread_id"] for r in await conn.fetch(query, *where.params)}


async def test_the_index_is_path_ops(conn: asyncpg.Connection) -> None:
    for name in ("ix_threads_metadata", "ix_assistants_metadata"):
        found = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", name)
        assert "gin (metadata jsonb_path_ops)" in found


async def test_every_filter_answers_the_same_through_the_index(conn: asyncpg.Connection) -> None:
    ids = [uuid.uuid4() for _ in DOCUMENTS]
    for thread_id, doc in zip(ids, DOCUMENTS, strict=True):
        assert await rows.insert(conn, thread_id, doc) is not None
    for flt in FILTERS:
        expected = {t for t, doc in zip(ids, DOCUMENTS, strict=True) if contains(doc, flt)}
        where = Where()
        rows.filters(where, metadata=flt)
        assert await matching(conn, where, index=True) == expected, flt
        assert await matching(conn, where, index=False) == expected, flt
        assert await rows.count(conn, where) == len(expected)
    # custom auth's owner filter goes through the same index
    where = Where()
    Access(metadata_filters=[{"owner": "alice"}]).apply(where)
    assert await matching(conn, where, index=True) == {ids[3], ids[4]}
