"""Lease fencing of every write of an attempt (epoch and token), and periodic ticks taken
once across callers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from langgraph.checkpoint.base import empty_checkpoint

from app.db import outcome, periodic, run_batch, workers
from app.db import runs as run_rows
from tests.db.rows import insert_run


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


async def test_a_lost_claim_replayed_with_the_same_epoch_fences_off_the_first_attempt(
    pool: asyncpg.Pool,
) -> None:
    """A claim (epoch e, token t1) is lost as if PostgreSQL had lost its transaction (the
    row is put back as it was before it); the run is claimed again and gets the same epoch
    e but a new token t2. Every write of the first attempt is refused (run batch, fenced
    saver, renewal, hand-back, finish), the second attempt's pass."""
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn, status="pending", epoch=0, token=None)
        before = await conn.fetchrow("SELECT * FROM runs WHERE run_id = $1", rid)
        (first,) = await run_rows.claim(conn, "w1", 1, 30)
        columns = [c for c in before.keys() if c != "run_id"]  # noqa: SIM118
        await conn.execute(
            f"UPDATE runs SET ({', '.join(columns)}) = "
            f"({', '.join(f'${i + 2}' for i in range(len(columns)))}) WHERE run_id = $1",
            rid,
            *(before[c] for c in columns),
        )
        (second,) = await run_rows.claim(conn, "w2", 1, 30)
    epoch, t1, t2 = first["lease_epoch"], first["lease_token"], second["lease_token"]
    assert (first["run_id"], second["run_id"]) == (rid, rid)
    assert second["lease_epoch"] == epoch == 1  # the epoch repeated: it alone fences nothing
    assert (first["attempt"], second["attempt"]) == (1, 1)
    assert None not in (t1, t2)
    assert t1 != t2

    async def snapshot() -> dict[str, Any]:
        async with pool.acquire() as conn:
            run = await conn.fetchrow(
                "SELECT status, lease_owner, lease_token, lease_expires_at, attempt, output "
                "FROM runs WHERE run_id = $1",
                rid,
            )
            counts = await conn.fetchrow(
                """SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = $1) AS cps,
                          (SELECT count(*) FROM checkpoint_writes
                            WHERE thread_id = $1) AS ws,
                          (SELECT count(*) FROM run_events WHERE run_id = $2) AS ev""",
                str(tid),
                rid,
            )
        return {**dict(run), **dict(counts)}

    state = await snapshot()
    cid = empty_checkpoint()["id"]

    def batch(task: str) -> run_batch.Batch:
        """A checkpoint, one pending write of ``task`` on it and one event."""
        return run_batch.Batch(
            checkpoints={(str(tid), "", cid): (None, str(rid), "{}", "{}")},
            writes={(str(tid), "", cid, task, 0): ("", str(rid), "log", "json", b'"x"')},
            events=[("values", "{}")],
        )

    worker1 = workers.Worker("w1", "host", 1, None)
    worker2 = workers.Worker("w2", "host", 1, None)

    # The first attempt: nothing it writes lands.
    async with pool.acquire() as conn:
        assert not await run_batch.write(conn, rid, tid, epoch, t1, batch("t1"))
        renewal = await workers.beat(
            conn, worker1, lease_seconds=300, held=[(rid, t1)], judge_dead_after=None
        )
        assert renewal.held == frozenset()
        assert not await run_rows.hand_back(conn, rid, epoch, t1)
        assert not await outcome.holds(conn, rid, epoch, t1)
        async with conn.transaction():
            locked = await outcome.lock(conn, tid, rid, epoch, t1)
            assert (locked["thread_exists"], locked["held"]) == (True, False)
            assert not await _finish(conn, tid, rid, epoch, t1)
    assert await snapshot() == state

    # The second attempt: everything lands.
    async with pool.acquire() as conn:
        assert await run_batch.write(conn, rid, tid, epoch, t2, batch("t2"))
        renewal = await workers.beat(
            conn, worker2, lease_seconds=300, held=[(rid, t2)], judge_dead_after=None
        )
        assert renewal.held == frozenset({rid})
        renewed = await snapshot()
        assert renewed["lease_expires_at"] > state["lease_expires_at"]
        assert (renewed["cps"], renewed["ws"], renewed["ev"]) == (1, 1, 1)
        hand_back = conn.transaction()  # the hand-back passes (rolled back: finish next)
        await hand_back.start()
        assert await run_rows.hand_back(conn, rid, epoch, t2)
        await hand_back.rollback()
        async with conn.transaction():
            locked = await outcome.lock(conn, tid, rid, epoch, t2)
            assert locked["held"]
            assert await _finish(conn, tid, rid, epoch, t2)
    done = await snapshot()
    assert (done["status"], done["lease_owner"], done["output"]) == ("success", None, {"ok": 2})
    async with pool.acquire() as conn:  # a lost acknowledgement: whose finish committed
        assert await outcome.finished_under(conn, rid, epoch, t2)
        assert not await outcome.finished_under(conn, rid, epoch, t1)
    assert done["ev"] == 2


async def _finish(
    conn: asyncpg.Connection, tid: uuid.UUID, rid: uuid.UUID, epoch: int, token: uuid.UUID
) -> bool:
    written = await outcome.write(
        conn,
        outcome.Outcome(rid, tid, epoch, token, "success", {"ok": 2}, None, [("end", "{}")]),
    )
    return written.finished
