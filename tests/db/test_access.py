"""Auth filters as SQL (``app.db.access``): each operator against real JSONB rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from app.core.access import Access
from app.db.access import FilterError, Where
from app.db.pool import create_pool

ROWS = {
    "a": {"owner": "alice", "tags": ["x", "y"], "team": {"id": 1}},
    "b": {"owner": "bob", "tags": ["y"], "level": 3},
    "c": {"owner": "alice", "tags": [], "level": "3"},
    "d": {},
}


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as c:
            await c.execute("CREATE TEMP TABLE items (name text, metadata jsonb)")
            for name, metadata in ROWS.items():
                await c.execute("INSERT INTO items VALUES ($1, $2)", name, metadata)
            yield c
    finally:
        await pool.close()


async def visible(conn: asyncpg.Connection, *filters: dict[str, Any]) -> set[str]:
    where = Where()
    Access(tuple(filters)).apply(where)
    rows = await conn.fetch(f"SELECT name FROM items WHERE {where.sql()}", *where.params)
    return {r["name"] for r in rows}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"owner": "alice"}, {"a", "c"}),
        ({"owner": {"$eq": "bob"}}, {"b"}),
        ({"level": 3}, {"b"}),  # a number is not the string "3"
        ({"level": "3"}, {"c"}),
        ({"team": {"id": 1}}, {"a"}),  # a dict value is equality, not containment
        ({"team": {"$eq": {"id": 1}}}, {"a"}),
        ({"tags": ["y"]}, {"b"}),  # a list value is equality
        ({"tags": {"$contains": "y"}}, {"a", "b"}),
        ({"tags": {"$contains": ["x", "y"]}}, {"a"}),
        ({"owner": "alice", "tags": {"$contains": "x"}}, {"a"}),
        ({"$or": [{"owner": "bob"}, {"level": "3"}]}, {"b", "c"}),
        (
            {"$and": [{"owner": "alice"}, {"$or": [{"level": "3"}, {"tags": ["x", "y"]}]}]},
            {"a", "c"},
        ),
        ({"missing": "x"}, set()),
        ({}, {"a", "b", "c", "d"}),
    ],
)
async def test_filters(conn: asyncpg.Connection, flt: dict[str, Any], expected: set[str]) -> None:
    assert await visible(conn, flt) == expected


async def test_several_filters_must_all_hold(conn: asyncpg.Connection) -> None:
    assert await visible(conn, {"owner": "alice"}, {"tags": {"$contains": "x"}}) == {"a"}


@pytest.mark.parametrize(
    "flt", [{"owner": {"$ne": "bob"}}, {"$not": {}}, {"$or": []}, {"o": {"$eq": 1, "x": 2}}, ["o"]]
)
def test_unknown_operators_are_refused(flt: Any) -> None:
    with pytest.raises(FilterError):
        Access((flt,)).apply(Where())
