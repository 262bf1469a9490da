"""The event log's SQL: fenced batches, ordered reads with the run status, purge by age."""

from __future__ import annotations

import uuid

import asyncpg

from app.db import events, run_batch
from tests.db.rows import TOKEN, insert_run


async def _append(
    conn: asyncpg.Connection,
    rid: uuid.UUID,
    tid: uuid.UUID,
    epoch: int,
    batch: list[tuple[str, str]],
) -> bool:
    """A worker's batch holding only events; True if the lease was held (written)."""
    return await run_batch.write(conn, rid, tid, epoch, TOKEN, run_batch.Batch(events=batch))


async def test_fenced_append_keeps_order_and_stops_when_the_lease_is_lost(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn, epoch=3)
        batch = [(f"e{i}", f'{{"i":{i}}}') for i in range(50)]
        assert await _append(conn, rid, tid, 3, batch)
        # Another worker took the run over (epoch 4): the old one writes nothing more.
        await conn.execute("UPDATE runs SET lease_epoch = 4 WHERE run_id = $1", rid)
        assert not await _append(conn, rid, tid, 3, [("late", "{}")])
        status, got = await events.read_run(conn, rid, 0, 1000)
    assert status == "running"
    assert [e.event for e in got] == [f"e{i}" for i in range(50)]
    assert [e.data for e in got] == [f'{{"i":{i}}}' for i in range(50)]
    ids = [e.event_id for e in got]
    assert ids == sorted(ids)
    assert len(set(ids)) == 50
    assert all(e.wire_id == f"{e.created_ms}-{e.event_id}" for e in got)


async def test_read_after_a_cursor_with_limit_and_missing_run(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn, epoch=3)
        await _append(conn, rid, tid, 3, [(f"e{i}", "{}") for i in range(10)])
        _, all_events = await events.read_run(conn, rid, 0, 100)
        _, page = await events.read_run(conn, rid, all_events[3].event_id, 4)
        assert [e.event for e in page] == ["e4", "e5", "e6", "e7"]
        assert await events.last_id(conn, run_id=rid) == all_events[-1].event_id
        assert await events.read_run(conn, uuid.uuid4(), 0, 10) == (None, [])
        exists, thread_events = await events.read_thread(conn, tid, 0, 100)
        assert exists
        assert len(thread_events) == 10
        assert await events.read_thread(conn, uuid.uuid4(), 0, 10) == (False, [])


async def test_purge_keeps_active_runs_and_recent_ends(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        t_active, r_active = await insert_run(conn, epoch=3)
        t_old, r_old = await insert_run(conn, epoch=3)
        t_new, r_new = await insert_run(conn, epoch=3)
        for tid, rid in ((t_active, r_active), (t_old, r_old), (t_new, r_new)):
            await _append(conn, rid, tid, 3, [("values", "{}")])
        await events.append(conn, t_old, None, [events.run_done(r_old)])
        await conn.execute("UPDATE run_events SET created_at = now() - interval '1 hour'")
        await conn.execute(
            "UPDATE runs SET status = 'success', ended_at = now() - interval '10 minutes' "
            "WHERE run_id = $1",
            r_old,
        )
        await conn.execute(
            "UPDATE runs SET status = 'success', ended_at = now() WHERE run_id = $1", r_new
        )
        deleted = await events.purge(conn, 120)
        left = await conn.fetch("SELECT run_id FROM run_events ORDER BY event_id")
    assert deleted == 2  # the old run's event and the thread-level run_done
    assert [r["run_id"] for r in left] == [r_active, r_new]


async def test_purge_deletes_batch_after_batch(pool: asyncpg.Pool) -> None:
    """One sweep keeps deleting while batches come back full (one batch per sweep capped
    the rate at a batch per tick); a zero budget stops after the first batch."""
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn, epoch=3)
        await _append(conn, rid, tid, 3, [("values", "{}")] * 25)
        await conn.execute("UPDATE run_events SET created_at = now() - interval '1 hour'")
        await conn.execute(
            "UPDATE runs SET status = 'success', ended_at = now() - interval '10 minutes' "
            "WHERE run_id = $1",
            rid,
        )
        assert await events.purge(conn, 120, batch=10, budget_seconds=0) == 10
        assert await events.purge(conn, 120, batch=4) == 15
        assert await conn.fetchval("SELECT count(*) FROM run_events") == 0
