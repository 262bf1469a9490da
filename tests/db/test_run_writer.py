"""The worker's RunWriter: a run's checkpoints, pending writes and stream events written in
batches, each batch one statement fenced by the run's lease."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from app.checkpoint.saver import PostgresSaver
from app.checkpoint.sql import LeaseLost
from app.worker.writer import RunWriter
from tests.db.rows import TOKEN, insert_run


async def _writer(
    pool: asyncpg.Pool, *, synchronous: bool = False
) -> tuple[uuid.UUID, uuid.UUID, RunWriter, PostgresSaver, dict[str, Any]]:
    """A running run, its writer, a saver handing writes to it, and the thread's config."""
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
    writer = RunWriter(pool, rid, tid, 1, TOKEN, synchronous=synchronous)
    config = {"configurable": {"thread_id": str(tid), "checkpoint_ns": ""}}
    return tid, rid, writer, PostgresSaver(pool).buffered(writer), config


async def _counts(pool: asyncpg.Pool, tid: uuid.UUID) -> dict[str, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM checkpoints WHERE thread_id = $2) AS cps,
                      (SELECT count(*) FROM checkpoint_writes WHERE thread_id = $2) AS ws,
                      (SELECT count(*) FROM checkpoint_blobs WHERE thread_id = $2) AS bl,
                      (SELECT count(*) FROM run_events WHERE thread_id = $1) AS ev""",
            tid,
            str(tid),
        )
    return dict(row)


async def test_a_superstep_and_its_events_go_in_one_statement_and_read_back(
    pool: asyncpg.Pool,
) -> None:
    tid, rid, writer, saver, config = await _writer(pool)
    first = empty_checkpoint()
    first["channel_values"] = {"label": "a"}
    first["channel_versions"] = {"label": "1"}
    writer.add("metadata", {"run_id": str(rid)})
    stored = await saver.aput(config, first, {"step": -1}, {"label": "1"})
    await saver.aput_writes(stored, [("log", "x"), ("label", "b")], task_id="t1")
    # A regular write keeps its first value, even when handed over twice in one batch.
    await saver.aput_writes(stored, [("log", "y")], task_id="t1")
    writer.add("values", {"label": "a"})
    # Reading through the run's saver waits for what was handed over (read your writes).
    got = await saver.aget_tuple(config)
    assert got is not None
    assert got.checkpoint["id"] == first["id"]
    assert got.checkpoint["channel_values"] == {"label": "a"}
    assert [(t, c, v) for t, c, v in got.pending_writes] == [
        ("t1", "log", "x"),
        ("t1", "label", "b"),
    ]
    assert await _counts(pool, tid) == {"cps": 1, "ws": 2, "bl": 1, "ev": 2}
    # Events keep their order.
    async with pool.acquire() as conn:
        names = [
            r["event"]
            for r in await conn.fetch(
                "SELECT event FROM run_events WHERE run_id = $1 ORDER BY event_id", rid
            )
        ]
    assert names == ["metadata", "values"]
    # close() writes what holds checkpoint data and hands back events for the finish.
    second = empty_checkpoint()
    await saver.aput(stored, second, {"step": 0}, {})
    writer.add("values", {"label": "b"})
    assert await writer.close() == []
    assert await _counts(pool, tid) == {"cps": 2, "ws": 2, "bl": 1, "ev": 3}


async def test_a_writer_that_lost_its_lease_writes_nothing_and_says_so(
    pool: asyncpg.Pool,
) -> None:
    tid, rid, writer, saver, config = await _writer(pool)
    stored = await saver.aput(config, empty_checkpoint(), {"step": -1}, {})
    await writer.flush()
    async with pool.acquire() as conn:  # another worker took the run over
        await conn.execute("UPDATE runs SET lease_epoch = 2 WHERE run_id = $1", rid)
    await saver.aput(stored, empty_checkpoint(), {"step": 0}, {})
    writer.add("values", {})
    with pytest.raises(LeaseLost):
        await writer.flush()
    assert writer.lease_lost
    with pytest.raises(LeaseLost):
        await saver.aput(stored, empty_checkpoint(), {"step": 1}, {})
    assert await _counts(pool, tid) == {"cps": 1, "ws": 0, "bl": 0, "ev": 0}
    writer.abandon()


async def test_sync_durability_returns_from_a_put_only_once_it_is_committed(
    pool: asyncpg.Pool,
) -> None:
    tid, _rid, writer, saver, config = await _writer(pool, synchronous=True)
    for step in range(3):
        config = await saver.aput(config, empty_checkpoint(), {"step": step}, {})
        assert (await _counts(pool, tid))["cps"] == step + 1
    assert await writer.close() == []


async def test_async_durability_returns_before_the_commit(pool: asyncpg.Pool) -> None:
    tid, _rid, writer, saver, config = await _writer(pool)
    for step in range(5):
        config = await saver.aput(config, empty_checkpoint(), {"step": step}, {})
    # No put waited for a commit: all five are still in the writer's next batch.
    assert len(writer._batch.checkpoints) == 5
    await writer.close()
    assert (await _counts(pool, tid))["cps"] == 5


async def test_hand_over_writes_nothing_more_and_the_saver_answers_from_memory(
    pool: asyncpg.Pool,
) -> None:
    """At a run's end the writer waits for the batch in flight, then hands everything left
    (checkpoint data and events) to the finish; the run's saver answers the last
    checkpoint, with its pending writes, from memory meanwhile."""
    tid, _rid, writer, saver, config = await _writer(pool)
    stored = await saver.aput(config, empty_checkpoint(), {"step": -1}, {})
    await writer.flush()
    last = empty_checkpoint()
    last["channel_values"] = {"label": "z"}
    last["channel_versions"] = {"label": "2"}
    stored = await saver.aput(stored, last, {"step": 0}, {"label": "2"})
    await saver.aput_writes(stored, [("log", "x")], task_id="t1")
    writer.add("values", {"label": "z"})
    left = await writer.hand_over()
    assert list(left.checkpoints) == [(str(tid), "", last["id"])]
    assert len(left.blobs) == len(left.writes) == len(left.events) == 1
    assert await _counts(pool, tid) == {"cps": 1, "ws": 0, "bl": 0, "ev": 0}
    assert writer.closed
    got = await saver.aget_tuple(config)
    assert got is not None
    assert got.checkpoint["id"] == last["id"]
    assert got.checkpoint["channel_values"] == {"label": "z"}
    assert [(t, c, v) for t, c, v in got.pending_writes] == [("t1", "log", "x")]
    await saver.aget_tuple(config)  # a read after the hand-over waits for nothing
