"""A run's saver answers its finish's read of the last root checkpoint from memory
(``app.checkpoint.latest``) once its writer closed: the same tuple the table gives."""

from __future__ import annotations

from typing import Any

import asyncpg
from langgraph.checkpoint.base import ERROR, INTERRUPT

from app.checkpoint import PostgresSaver
from app.worker.writer import RunWriter
from tests.checkpoint.puts import put
from tests.db.rows import TOKEN, insert_run


async def test_the_closed_run_saver_answers_as_the_table_does(
    pool: asyncpg.Pool, relaxed: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        tid, rid = await insert_run(conn)
    writer = RunWriter(relaxed, rid, tid, 1, TOKEN)
    saver = PostgresSaver(pool).buffered(writer)
    thread = str(tid)
    root: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    first = await put(saver, root, {"a": [1]}, {"a": "1"}, source="input", step=-1)
    last = await put(saver, first, {"a": [1, 2], "b": "x"}, {"a": "2", "b": "1"})
    # Writes against the last checkpoint: two tasks handed over out of order, a regular
    # write given twice (the first stays), a special one twice (the second stays).
    await saver.aput_writes(last, [("a", [3]), ("b", "y")], "task-b", "~b")
    await saver.aput_writes(last, [("a", [9])], "task-b", "~b")
    await saver.aput_writes(last, [(INTERRUPT, "first"), ("a", [4])], "task-a", "~a")
    await saver.aput_writes(last, [(INTERRUPT, "second")], "task-a", "~a")
    await saver.aput_writes(last, [(ERROR, "boom")], "task-c", "~a")
    ns: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": "sub:1"}}
    await put(saver, ns, {"z": 1}, {"z": "1"})
    assert not saver._from_memory(root)  # the run goes on: read from the table
    assert await writer.close() == []
    assert saver._from_memory(root)
    assert saver._from_memory(last)
    assert not saver._from_memory(first)  # an older checkpoint: the table
    assert not saver._from_memory(ns)  # another namespace: the table

    remembered = await saver.aget_tuple(root)
    stored = await PostgresSaver(pool).aget_tuple(root)
    assert remembered is not None
    assert stored is not None
    assert remembered.config == stored.config
    assert remembered.parent_config == stored.parent_config
    assert remembered.metadata == stored.metadata
    assert remembered.pending_writes == stored.pending_writes
    assert remembered.pending_writes == [
        ("task-a", INTERRUPT, "second"),
        ("task-a", "a", [4]),
        ("task-c", ERROR, "boom"),
        ("task-b", "a", [3]),
        ("task-b", "b", "y"),
    ]
    assert remembered.checkpoint == {
        **stored.checkpoint,
        "channel_values": remembered.checkpoint["channel_values"],
    }
    assert remembered.checkpoint["channel_values"] == stored.checkpoint["channel_values"]
