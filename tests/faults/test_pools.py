"""The asyncpg pools come back by themselves after PostgreSQL restarts (DESIGN I10).

Both pools Turnstile opens (``app.db.pool.create_pool``: the main one and the workers'
``relaxed`` one) hold idle connections when the server restarts. Those connections are
closed under them; the next acquire must discard them and connect again, with the pool's
settings (the relaxed pool's ``synchronous_commit = off``) applied to the new connection.
"""

from __future__ import annotations

import asyncio

import pytest

from app.db.pool import create_pool
from tests.cluster import private_cluster

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
@pytest.mark.parametrize("relaxed", [False, True], ids=["main", "relaxed"])
async def test_pool_recovers_after_restart(mode: str, relaxed: bool) -> None:
    with private_cluster() as cluster:
        pool = await create_pool(cluster.url(), min_size=3, max_size=3, relaxed=relaxed)
        try:
            conns = [await pool.acquire() for _ in range(3)]  # every connection opened
            before = {await c.fetchval("SELECT pg_backend_pid()") for c in conns}
            for conn in conns:
                await pool.release(conn)
            await asyncio.to_thread(cluster.restart, mode)

            async def use() -> tuple[int, str]:
                async with pool.acquire(timeout=10) as conn:
                    pid = await conn.fetchval("SELECT pg_backend_pid()")
                    setting = await conn.fetchval("SHOW synchronous_commit")
                    await asyncio.sleep(0.05)  # hold it, so the three are distinct
                    return pid, setting

            after = await asyncio.gather(*(use() for _ in range(3)))
        finally:
            await pool.close()
    pids = {pid for pid, _ in after}
    assert len(pids) == 3
    assert not pids & before  # new backends: the broken connections were discarded
    assert {s for _, s in after} == {"off" if relaxed else "on"}
