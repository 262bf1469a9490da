"""PostgresSaver behaviour the conformance suite does not cover: storage layout, blob sweeps,
run-scoped deletes, list paging, the sync API and metadata edge cases."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.conformance.test_utils import generate_checkpoint, generate_metadata

import app.checkpoint.rows as rows_module
import app.checkpoint.saver as saver_module
from app.checkpoint import PostgresSaver


@pytest.fixture
def saver(pool: asyncpg.Pool) -> PostgresSaver:
    """The plain saver: these tests read its rows directly."""
    return PostgresSaver(pool)


async def put(
    saver: PostgresSaver,
    thread_id: str,
    values: dict[str, Any],
    versions: dict[str, Any],
    new: dict[str, Any],
    *,
    parent: dict[str, Any] | None = None,
    ns: str = "",
    **meta: Any,
) -> dict[str, Any]:
    cp: Checkpoint = generate_checkpoint(channel_values=values, channel_versions=versions)
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
    return dict(await saver.aput(config, cp, generate_metadata(**meta), new))


async def count(pool: asyncpg.Pool, table: str, thread_id: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table} WHERE thread_id = $1", thread_id))


async def test_unchanged_channels_are_stored_once(saver: PostgresSaver, pool: asyncpg.Pool) -> None:
    c1 = await put(saver, "t", {"a": 1, "b": "big"}, {"a": "1", "b": "1"}, {"a": "1", "b": "1"})
    await put(saver, "t", {"a": 2, "b": "big"}, {"a": "2", "b": "1"}, {"a": "2"}, parent=c1)
    rows = await pool.fetch(
        "SELECT channel, version FROM checkpoint_blobs WHERE thread_id = 't' ORDER BY 1, 2"
    )
    assert [(r["channel"], r["version"]) for r in rows] == [("a", "1"), ("a", "2"), ("b", "1")]
    latest = await saver.aget_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})
    assert latest is not None
    assert latest.checkpoint["channel_values"] == {"a": 2, "b": "big"}


async def test_a_channel_without_value_has_no_blob_row(
    saver: PostgresSaver, pool: asyncpg.Pool
) -> None:
    stored = await put(saver, "t", {"b": 2}, {"a": "1", "b": "1"}, {"a": "1", "b": "1"})
    assert await pool.fetchval("SELECT array_agg(channel) FROM checkpoint_blobs") == ["b"]
    tup = await saver.aget_tuple(stored)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"b": 2}
    assert tup.checkpoint["channel_versions"] == {"a": "1", "b": "1"}
    # The 'empty' rows earlier versions wrote read the same: no value.
    await pool.execute(
        "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob) "
        "VALUES ('t', '', 'a', '1', 'empty', NULL)"
    )
    again = await saver.aget_tuple(stored)  # type: ignore[arg-type]
    assert again is not None
    assert again.checkpoint["channel_values"] == {"b": 2}


async def test_large_blobs_and_writes_are_stored_compressed(
    saver: PostgresSaver, pool: asyncpg.Pool
) -> None:
    """A value of COMPRESS_FROM bytes or more is stored as a zstd frame (type ``…+zstd``),
    a smaller one as the serde wrote it; both read back as they were put."""
    big = [f"message {i}: " + "the quick brown fox " * 20 for i in range(200)]
    stored = await put(
        saver,
        "t",
        {"big": big, "small": "hi"},
        {"big": "1", "small": "1"},
        {"big": "1", "small": "1"},
    )
    await saver.aput_writes(stored, [("big", big), ("small", "x")], "task-1")  # type: ignore[arg-type]
    rows = {
        r["channel"]: r
        for r in await pool.fetch(
            "SELECT channel, type, length(blob) AS n FROM checkpoint_blobs WHERE thread_id = 't'"
        )
    }
    assert rows["big"]["type"] == "msgpack+zstd"
    assert rows["small"]["type"] == "msgpack"
    raw = len(saver.serde.dumps_typed(big)[1])
    assert raw >= rows_module.COMPRESS_FROM
    assert rows["big"]["n"] < raw / 4
    types = await pool.fetch(
        "SELECT channel, type FROM checkpoint_writes WHERE thread_id = 't' ORDER BY idx"
    )
    assert [(r["channel"], r["type"]) for r in types] == [
        ("big", "msgpack+zstd"),
        ("small", "msgpack"),
    ]
    tup = await saver.aget_tuple(stored)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"big": big, "small": "hi"}
    assert [(c, v) for _, c, v in tup.pending_writes or []] == [("big", big), ("small", "x")]


async def test_delete_for_runs_sweeps_only_unreferenced_blobs(
    saver: PostgresSaver, pool: asyncpg.Pool
) -> None:
    c1 = await put(
        saver, "t", {"a": 1, "b": 1}, {"a": "1", "b": "1"}, {"a": "1", "b": "1"}, run_id="r1"
    )
    c2 = await put(
        saver, "t", {"a": 2, "b": 1}, {"a": "2", "b": "1"}, {"a": "2"}, parent=c1, run_id="r2"
    )
    await saver.aput_writes(c2, [("a", 3)], "task")
    await saver.adelete_for_runs(["r2"])
    assert await count(pool, "checkpoints", "t") == 1
    assert await count(pool, "checkpoint_writes", "t") == 0
    rows = await pool.fetch("SELECT channel, version FROM checkpoint_blobs WHERE thread_id = 't'")
    assert sorted((r["channel"], r["version"]) for r in rows) == [("a", "1"), ("b", "1")]
    tup = await saver.aget_tuple(c1)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"a": 1, "b": 1}


async def test_delete_for_runs_removes_the_runs_writes_on_other_checkpoints(
    saver: PostgresSaver,
) -> None:
    c1 = await put(saver, "t", {}, {}, {}, run_id="r1")
    # A later run (e.g. a resume) writes on the earlier run's checkpoint.
    resume_config = {"configurable": dict(c1["configurable"]), "metadata": {"run_id": "r2"}}
    await saver.aput_writes(resume_config, [("__resume__", "yes")], "task")  # type: ignore[arg-type]
    await saver.aput_writes(c1, [("x", 1)], "other-task")  # type: ignore[arg-type]
    await saver.adelete_for_runs(["r2"])
    tup = await saver.aget_tuple(c1)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.pending_writes == [("other-task", "x", 1)]


async def test_delete_for_runs_can_be_scoped_to_a_thread(saver: PostgresSaver) -> None:
    await put(saver, "src", {"a": 1}, {"a": "1"}, {"a": "1"}, run_id="r1")
    await saver.acopy_thread("src", "dst")
    await saver.adelete_for_runs(["r1"], thread_id="dst")
    assert (
        await saver.aget_tuple({"configurable": {"thread_id": "dst", "checkpoint_ns": ""}}) is None
    )
    src = await saver.aget_tuple({"configurable": {"thread_id": "src", "checkpoint_ns": ""}})
    assert src is not None
    assert src.checkpoint["channel_values"] == {"a": 1}


async def test_prune_keep_latest_keeps_blobs_the_latest_needs(
    saver: PostgresSaver, pool: asyncpg.Pool
) -> None:
    c1 = await put(saver, "t", {"a": 1, "b": 1}, {"a": "1", "b": "1"}, {"a": "1", "b": "1"})
    c2 = await put(saver, "t", {"a": 2, "b": 1}, {"a": "2", "b": "1"}, {"a": "2"}, parent=c1)
    await saver.aput_writes(c1, [("a", 9)], "old-task")  # type: ignore[arg-type]
    await saver.aprune(["t"])
    assert await count(pool, "checkpoints", "t") == 1
    assert await count(pool, "checkpoint_blobs", "t") == 2  # a@2, b@1; a@1 swept
    assert await count(pool, "checkpoint_writes", "t") == 0
    tup = await saver.aget_tuple(c2)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.checkpoint["channel_values"] == {"a": 2, "b": 1}


async def test_prune_rejects_unknown_strategy(saver: PostgresSaver) -> None:
    with pytest.raises(ValueError, match="strategy"):
        await saver.aprune(["t"], strategy="keep_some")


async def test_list_pages_through_many_rows(
    saver: PostgresSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saver_module, "LIST_PAGE_SIZE", 2)
    ids = []
    for ns in ("", "sub:1"):
        parent = None
        for _ in range(3):
            parent = await put(saver, "t", {}, {}, {}, parent=parent, ns=ns)
            ids.append(parent["configurable"]["checkpoint_id"])
    await put(saver, "other", {}, {}, {})
    listed = [t.checkpoint["id"] async for t in saver.alist({"configurable": {"thread_id": "t"}})]
    assert listed == sorted(ids, reverse=True)
    everything = [t async for t in saver.alist(None)]
    assert len(everything) == 7
    limited = [t.checkpoint["id"] async for t in saver.alist(None, limit=5)]
    assert len(limited) == 5
    assert limited == [t.checkpoint["id"] for t in everything[:5]]


async def test_metadata_filter_and_nul_characters(saver: PostgresSaver, pool: asyncpg.Pool) -> None:
    await put(saver, "t", {}, {}, {}, note="a\x00b", nested={"k": "v\x00"}, score=3)
    [tup] = [t async for t in saver.alist(None, filter={"score": 3})]
    assert tup.metadata["note"] == "ab"
    assert tup.metadata["nested"] == {"k": "v"}
    assert [t async for t in saver.alist(None, filter={"nested": {"k": "v"}})]
    assert await pool.fetchval("SELECT run_id FROM checkpoints WHERE thread_id = 't'") is None


async def test_run_id_column_follows_metadata(saver: PostgresSaver, pool: asyncpg.Pool) -> None:
    config: dict[str, Any] = {
        "configurable": {"thread_id": "t", "checkpoint_ns": ""},
        "metadata": {"run_id": "run-1"},
    }
    stored = await saver.aput(config, generate_checkpoint(), generate_metadata(), {})  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT run_id FROM checkpoints WHERE thread_id = 't'") == "run-1"
    tup = await saver.aget_tuple(stored)
    assert tup is not None
    assert tup.metadata["run_id"] == "run-1"


async def test_sync_api_runs_from_another_thread(saver: PostgresSaver) -> None:
    def work() -> list[str]:
        cp = generate_checkpoint(channel_values={"a": 1}, channel_versions={"a": "1"})
        stored = saver.put(
            {"configurable": {"thread_id": "sync", "checkpoint_ns": ""}},
            cp,
            generate_metadata(),
            {"a": "1"},
        )
        saver.put_writes(stored, [("a", 2)], "task")
        tup = saver.get_tuple(stored)
        assert tup is not None
        assert tup.pending_writes == [("task", "a", 2)]
        ids = [t.checkpoint["id"] for t in saver.list({"configurable": {"thread_id": "sync"}})]
        saver.copy_thread("sync", "sync2")
        saver.prune(["sync2"])
        saver.delete_for_runs(["nope"])
        saver.delete_thread("sync")
        assert saver.get_tuple({"configurable": {"thread_id": "sync", "checkpoint_ns": ""}}) is None
        return ids

    ids = await asyncio.to_thread(work)
    assert len(ids) == 1


async def test_sync_api_refuses_the_loop_thread(saver: PostgresSaver) -> None:
    with pytest.raises(asyncio.InvalidStateError):
        saver.get_tuple({"configurable": {"thread_id": "t", "checkpoint_ns": ""}})


def test_next_version_is_monotonic(saver: PostgresSaver) -> None:
    v1 = saver.get_next_version(None, None)
    v2 = saver.get_next_version(v1, None)
    assert v1 < v2
    assert int(v2.split(".")[0]) == 2


async def test_writes_of_one_call_follow_the_stored_rules(saver: PostgresSaver) -> None:
    """Two writes of one call on the same (task, idx): a special one is replaced by the
    later value, as a stored one would be (one statement cannot update a row twice)."""
    stored = await put(saver, "t", {}, {}, {})
    await saver.aput_writes(stored, [("__error__", "first"), ("__error__", "second")], "task")  # type: ignore[arg-type]
    tup = await saver.aget_tuple(stored)  # type: ignore[arg-type]
    assert tup is not None
    assert tup.pending_writes == [("task", "__error__", "second")]
