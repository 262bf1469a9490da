"""What every connection of the server's pools is set to (``app.db.pool``)."""

from __future__ import annotations

import pytest

from app.db.pool import create_pool


@pytest.mark.parametrize("relaxed", [False, True], ids=["main", "relaxed"])
async def test_pool_connections_never_jit_compile(database_url: str, relaxed: bool) -> None:
    # A generic plan's estimate over skewed tables once had PostgreSQL spend 325 ms
    # compiling the workers' claim, a statement that then ran for 0.06 ms.
    pool = await create_pool(database_url, min_size=1, max_size=1, relaxed=relaxed)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW jit") == "off"
            expected = ("off", "force_generic_plan") if relaxed else ("on", "auto")
            assert (
                await conn.fetchval("SHOW synchronous_commit"),
                await conn.fetchval("SHOW plan_cache_mode"),
            ) == expected
    finally:
        await pool.close()
