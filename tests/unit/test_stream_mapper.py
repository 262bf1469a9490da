"""LangGraph chunks to SSE events, and Last-Event-ID parsing."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk

from app.core.errors import InvalidInput
from app.services.streams import Cursor, thread_modes, wanted_by_join
from app.worker.chunks import StreamMapper


def test_graph_modes_always_include_updates_and_map_message_modes() -> None:
    assert StreamMapper(["values"]).graph_modes() == ["updates", "values"]
    assert StreamMapper(["messages-tuple", "events"]).graph_modes() == ["messages", "updates"]
    assert StreamMapper(["messages", "debug"]).graph_modes() == ["debug", "messages", "updates"]


def test_names_and_namespaces() -> None:
    mapper = StreamMapper(["values", "custom"], subgraphs=True)
    assert mapper.map((), "values", {"a": 1}) == [("values", {"a": 1})]
    assert mapper.map(("inner:1", "deeper:2"), "custom", 5) == [("custom|inner:1|deeper:2", 5)]
    assert mapper.map((), "updates", {"node": {}}) == []  # asked for internally only


def test_interrupt_goes_to_values_only_when_needed() -> None:
    chunk = {"__interrupt__": [{"value": 1, "id": "x"}]}
    assert StreamMapper(["messages-tuple"]).map((), "updates", chunk) == [("values", chunk)]
    assert StreamMapper(["values"]).map((), "updates", chunk) == []  # values carries it
    assert StreamMapper(["updates"]).map((), "updates", chunk) == [("updates", chunk)]


def test_messages_tuple_and_legacy_accumulation() -> None:
    mapper = StreamMapper(["messages", "messages-tuple"])
    meta = {"langgraph_node": "agent"}
    first = mapper.map((), "messages", (AIMessageChunk(content="Hel", id="m1"), meta))
    assert [name for name, _ in first] == ["messages", "messages/metadata", "messages/partial"]
    assert first[1][1] == {"m1": {"metadata": meta}}
    second = mapper.map((), "messages", (AIMessageChunk(content="lo", id="m1"), meta))
    assert [name for name, _ in second] == ["messages", "messages/partial"]
    assert second[1][1][0].content == "Hello"
    whole = StreamMapper(["messages"]).map((), "messages", (AIMessage(content="hi", id="m2"), {}))
    assert [name for name, _ in whole] == ["messages/metadata", "messages/complete"]


def test_debug_checkpoint_payload_gains_checkpoint_refs() -> None:
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c2"}}
    parent = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    chunk = {"type": "checkpoint", "payload": {"config": config, "parent_config": parent}}
    ((_, out),) = StreamMapper(["debug"]).map((), "debug", chunk)
    assert out["payload"]["checkpoint"]["checkpoint_id"] == "c2"
    assert out["payload"]["parent_checkpoint"]["checkpoint_id"] == "c1"


def test_cursor_parsing() -> None:
    assert Cursor.parse(None).live
    assert Cursor.parse("-").after == 0
    assert Cursor.parse("0").after == 0
    assert Cursor.parse("-1").after == 0
    assert Cursor.parse("1700000000000-42").after == 42
    assert Cursor.parse("1700000000000").after_ms == 1700000000000
    assert Cursor.parse("1700000000000-*").after_ms == 1700000000000
    with pytest.raises(InvalidInput):
        Cursor.parse("-1", strict=True)
    with pytest.raises(InvalidInput):
        Cursor.parse("abc", strict=True)


def test_join_filter_and_thread_modes() -> None:
    modes = frozenset({"updates", "messages-tuple"})
    assert not wanted_by_join("metadata", modes)  # as the reference: only when asked
    assert wanted_by_join("metadata", frozenset({"metadata"}))
    assert wanted_by_join("error", modes)
    assert wanted_by_join("updates|inner:1", modes)
    assert wanted_by_join("messages", modes)
    assert not wanted_by_join("values", modes)
    assert not wanted_by_join("messages/partial", modes)
    assert wanted_by_join("values", None)
    assert thread_modes([]) == {"run_modes"}
    assert thread_modes(["lifecycle,state_update"]) == {"lifecycle", "state_update"}
    with pytest.raises(InvalidInput):
        thread_modes(["values"])
