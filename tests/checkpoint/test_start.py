"""The claim reads each run's starting checkpoint (``app.db.runs.claim``, ``start_*``), and
the run's saver answers the graph's first read with it: the same tuple the table gives."""

from __future__ import annotations

from typing import Any

import asyncpg
from langgraph.checkpoint.base import INTERRUPT

from app.checkpoint import PostgresSaver
from app.checkpoint.rows import Starting, to_tuple
from app.db import runs as run_rows
from app.worker.claimed import ClaimedRun
from app.worker.writer import RunWriter
from tests.checkpoint.puts import put
from tests.db.rows import TOKEN, insert_run


def root(thread: str, **more: Any) -> Any:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": "", **more}}


async def test_the_claim_reads_the_checkpoint_the_table_gives(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tid, _ = await insert_run(conn, status="pending")
        empty_tid, _ = await insert_run(conn, status="pending")
    saver = PostgresSaver(pool)
    thread = str(tid)
    first = await put(saver, root(thread), {"a": [1]}, {"a": "1"}, source="input", step=-1)
    last = await put(saver, first, {"a": [1, 2], "b": "x" * 10_000}, {"a": "2", "b": "1"})
    await saver.aput_writes(last, [(INTERRUPT, "ask"), ("a", [3])], "task-a", "~a")
    sub = {"configurable": {"thread_id": thread, "checkpoint_ns": "sub:1"}}
    await put(saver, sub, {"z": 1}, {"z": "1"})  # another namespace, newer: not the root's
    async with pool.acquire() as conn:
        claimed = {
            r.thread_id: r
            for r in map(ClaimedRun.from_row, await run_rows.claim(conn, "me", 10, 30.0))
        }
    assert set(claimed) == {tid, empty_tid}
    assert claimed[empty_tid].start == Starting(str(empty_tid), None)

    start = claimed[tid].take_start()
    assert start is not None
    assert claimed[tid].take_start() is None  # once
    assert start.row is not None
    stored = await saver.aget_tuple(root(thread))
    read = to_tuple(saver.serde, start.row)
    assert stored is not None
    assert read == stored
    assert read.config["configurable"]["checkpoint_id"] == last["configurable"]["checkpoint_id"]
    assert read.pending_writes == [("task-a", INTERRUPT, "ask"), ("task-a", "a", [3])]


async def test_the_start_answers_only_the_first_read_and_only_of_the_latest_root(
    pool: asyncpg.Pool, relaxed: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
    thread = str(tid)
    plain = PostgresSaver(pool)
    stored = await put(plain, root(thread), {"a": [1]}, {"a": "1"}, source="input", step=-1)

    def saver(start: Starting) -> PostgresSaver:
        return plain.buffered(RunWriter(relaxed, rid, tid, 1, TOKEN), start)

    # The start says "no checkpoint" where the table has one: which answered shows.
    fresh = saver(Starting(thread, None))
    assert await fresh.aget_tuple(root(thread)) is None
    assert await fresh.aget_tuple(root(thread)) is not None  # the second read: the table
    by_id = saver(Starting(thread, None))
    assert await by_id.aget_tuple(root(thread, **stored["configurable"])) is not None
    assert await by_id.aget_tuple(root(thread)) is not None  # spent on the first read
    other_ns = saver(Starting(thread, None))
    assert (
        await other_ns.aget_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": "sub:1"}})
        is None
    )
    assert await other_ns.aget_tuple(root(thread)) is not None
    assert await saver(Starting("another", None)).aget_tuple(root(thread)) is not None
