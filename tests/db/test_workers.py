"""The workers table: heartbeat, re-registration, and who is judged dead (DESIGN I4)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from app.db import migrate, workers
from app.db import runs as run_rows
from tests.cluster import private_cluster
from tests.db.rows import insert_run

ME = workers.Worker("me:1:aaaa", "me", 1, "test")


async def _running_run(
    conn: asyncpg.Connection, owner: str, *, claimed_ago: float = 0
) -> uuid.UUID:
    _, rid = await insert_run(conn, status="pending", epoch=0, token=None)
    (row,) = await run_rows.claim(conn, owner, 1, 300)
    await conn.execute(
        "UPDATE runs SET updated_at = now() - make_interval(secs => $2) WHERE run_id = $1",
        rid,
        claimed_ago,
    )
    assert row["run_id"] == rid
    return rid


async def _worker(conn: asyncpg.Connection, worker_id: str, *, beat_ago: float) -> None:
    await workers.register(conn, workers.Worker(worker_id, "h", 1, None))
    await conn.execute(
        "UPDATE workers SET heartbeat_at = now() - make_interval(secs => $2) WHERE worker_id = $1",
        worker_id,
        beat_ago,
    )


async def _status(conn: asyncpg.Connection, rid: uuid.UUID) -> tuple[str, str | None]:
    row = await conn.fetchrow("SELECT status, lease_token FROM runs WHERE run_id = $1", rid)
    return row["status"], row["lease_token"]


async def test_dead_by_heartbeat_or_missing_row_and_only_when_judging(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await workers.register(conn, ME)
        await _worker(conn, "alive:1:b", beat_ago=1)
        await _worker(conn, "stale:1:c", beat_ago=60)
        await _worker(conn, "gone:1:d", beat_ago=7200)  # no runs: forgotten
        alive = await _running_run(conn, "alive:1:b", claimed_ago=60)
        stale = await _running_run(conn, "stale:1:c", claimed_ago=60)
        orphan = await _running_run(conn, "norow:1:e", claimed_ago=60)  # owner has no row
        fresh = await _running_run(conn, "norow:1:f")  # no row, but claimed just now
        mine = await _running_run(conn, ME.worker_id, claimed_ago=60)
        assert await workers.count_alive(conn) == 2  # me, alive

        # Not judging (the keeper is not steady yet): nothing is re-queued.
        beat = await workers.beat(conn, ME, lease_seconds=30, held=[], judge_dead_after=None)
        assert beat.requeued == ()
        assert not beat.inserted
        assert (await _status(conn, stale))[0] == "running"

        beat = await workers.beat(conn, ME, lease_seconds=30, held=[], judge_dead_after=5)
        assert set(beat.requeued) == {stale, orphan}
        for rid in (stale, orphan):
            assert await _status(conn, rid) == ("pending", None)
        for rid in (alive, fresh, mine):
            assert (await _status(conn, rid))[0] == "running"
        ids = {r["worker_id"] for r in await conn.fetch("SELECT worker_id FROM workers")}
        assert ids == {ME.worker_id, "alive:1:b", "stale:1:c"}

        # A worker whose row vanished (PostgreSQL lost it) is inserted again by its beat.
        await workers.deregister(conn, ME.worker_id)
        beat = await workers.beat(conn, ME, lease_seconds=30, held=[], judge_dead_after=None)
        assert beat.inserted
        assert await workers.count_alive(conn) == 2


async def test_nobody_is_judged_dead_right_after_the_postmaster_started() -> None:
    """After a restart every heartbeat is stale at once: within dead_after of
    ``pg_postmaster_start_time()`` a beat that may judge re-queues nothing."""
    with private_cluster() as cluster:
        url = cluster.create_database("ts")
        await asyncio.to_thread(migrate.upgrade, url)
        conn = await asyncpg.connect(url)
        try:
            await _worker(conn, "stale:1:c", beat_ago=7200)
            stale = await _running_run(conn, "stale:1:c", claimed_ago=7200)
            beat = await workers.beat(conn, ME, lease_seconds=30, held=[], judge_dead_after=600)
            assert beat.requeued == ()
            assert (await _status(conn, stale))[0] == "running"
            # The same beat once the server has been up for longer than dead_after.
            up = await conn.fetchval(
                "SELECT extract(epoch FROM now() - pg_postmaster_start_time())"
            )
            beat = await workers.beat(
                conn, ME, lease_seconds=30, held=[], judge_dead_after=float(up) / 2
            )
            assert beat.requeued == (stale,)
        finally:
            await conn.close()
