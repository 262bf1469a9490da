"""The bundled demo graph ``agent`` (app/graphs/demo*.py): offline, deterministic, streamable."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    convert_to_messages,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode

from app.graphs import demo_model
from app.graphs.demo import build_graph, graph
from app.graphs.demo_model import ScriptedChatModel, make_model
from app.graphs.demo_search import tavily_search_results_json

SEED_INPUT = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}


def with_saver() -> CompiledStateGraph[Any, Any, Any, Any]:
    return graph.copy(update={"checkpointer": InMemorySaver()})


def thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}}


def assert_turn(messages: list[BaseMessage], question: str, query: str, place: str) -> None:
    human, call, result, answer = messages
    assert isinstance(human, HumanMessage)
    assert human.content == question

    assert isinstance(call, AIMessage)
    assert len(call.tool_calls) == 1
    tool_call = call.tool_calls[0]
    assert tool_call["name"] == "tavily_search_results_json"
    assert tool_call["args"] == {"query": query}
    assert tool_call["id"] is not None
    assert tool_call["id"].startswith("toolu_")
    assert call.id

    assert isinstance(result, ToolMessage)
    assert result.name == "tavily_search_results_json"
    assert result.tool_call_id == tool_call["id"]
    assert isinstance(result.content, str)
    hits = json.loads(result.content)
    assert isinstance(hits, list)
    assert hits
    assert all(set(hit) == {"url", "content"} for hit in hits)
    assert place in hits[0]["content"]

    assert isinstance(answer, AIMessage)
    assert not answer.tool_calls
    assert isinstance(answer.content, str)
    assert answer.content.startswith(
        f"According to the search results, the current weather in {place} is "
    )
    # It answers from (quotes) the tool result.
    assert hits[0]["content"].split(" is ", 1)[1] in answer.content
    assert answer.id


def test_graph_shape() -> None:
    assert isinstance(graph, CompiledStateGraph)
    assert graph.checkpointer is None
    assert {"agent", "tools"} <= set(graph.nodes)
    tools_node = graph.builder.nodes["tools"].runnable
    assert isinstance(tools_node, ToolNode)
    assert set(tools_node.tools_by_name) == {"tavily_search_results_json"}


def test_seed_conversation() -> None:
    app = with_saver()
    config = thread()
    out = app.invoke(SEED_INPUT, config)
    messages = app.get_state(config).values["messages"]
    assert messages == out["messages"]
    assert len(messages) == 4
    assert_turn(messages, "what's the weather in sf?", "weather in san francisco", "San Francisco")


def test_deterministic_across_threads() -> None:
    app = with_saver()
    first = app.invoke(SEED_INPUT, thread())["messages"]
    second = app.invoke(SEED_INPUT, thread())["messages"]
    assert first[1].tool_calls == second[1].tool_calls
    assert [m.content for m in first] == [m.content for m in second]


async def test_stream_messages_tokens() -> None:
    app = with_saver()
    config = thread()
    chunks: list[tuple[str, AIMessageChunk]] = []
    async for message, metadata in app.astream(SEED_INPUT, config, stream_mode="messages"):
        if isinstance(message, AIMessageChunk):
            chunks.append((metadata["langgraph_node"], message))
    assert {node for node, _ in chunks} == {"agent"}

    by_id: dict[str | None, list[AIMessageChunk]] = {}
    for _, chunk in chunks:
        by_id.setdefault(chunk.id, []).append(chunk)
    assert None not in by_id
    assert len(by_id) == 2  # the tool-calling message, then the answer
    call_chunks, answer_chunks = by_id.values()

    state = (await app.aget_state(config)).values["messages"]
    assert len(state) == 4
    assert_turn(state, "what's the weather in sf?", "weather in san francisco", "San Francisco")

    # The tool call streams as tool_call_chunks that aggregate to a proper tool call.
    call = call_chunks[0]
    for chunk in call_chunks[1:]:
        call = call + chunk
    assert call.tool_calls == state[1].tool_calls

    # The answer streams word by word.
    texts = [chunk.content for chunk in answer_chunks if chunk.content]
    assert len(texts) > 3
    assert "".join(str(text) for text in texts) == state[3].content
    assert state[3].id == answer_chunks[0].id


def test_sync_stream_messages_tokens() -> None:
    app = with_saver()
    texts = [
        message.content
        for message, _ in app.stream(SEED_INPUT, thread(), stream_mode="messages")
        if isinstance(message, AIMessageChunk) and message.content
    ]
    assert len(texts) > 3
    assert "".join(str(text) for text in texts).startswith("According to the search results")


async def test_follow_up_repeats_pattern() -> None:
    app = with_saver()
    config = thread()
    await app.ainvoke(SEED_INPUT, config)
    follow_up = {"messages": [{"role": "user", "content": "what's the weather in nyc?"}]}
    out = await app.ainvoke(follow_up, config)
    messages = out["messages"]
    assert len(messages) == 8
    assert_turn(
        messages[:4], "what's the weather in sf?", "weather in san francisco", "San Francisco"
    )
    assert_turn(messages[4:], "what's the weather in nyc?", "weather in nyc", "New York City")
    assert messages[1].tool_calls[0]["id"] != messages[5].tool_calls[0]["id"]
    assert len({m.id for m in messages}) == 8


def test_nyc_question() -> None:
    out = with_saver().invoke(
        {"messages": [{"role": "user", "content": "what's the weather in nyc?"}]}, thread()
    )
    assert len(out["messages"]) == 4
    assert_turn(out["messages"], "what's the weather in nyc?", "weather in nyc", "New York City")


def test_unknown_city_and_other_questions() -> None:
    app = with_saver()
    out = app.invoke({"messages": [("user", "What's the weather like in Boise?")]}, thread())
    assert_turn(out["messages"], "What's the weather like in Boise?", "weather in boise", "Boise")

    out = app.invoke({"messages": [("user", "Who won the 2022 World Cup?")]}, thread())
    _, call, result, answer = out["messages"]
    assert call.tool_calls[0]["args"] == {"query": "who won the 2022 world cup"}
    assert isinstance(result, ToolMessage)
    assert isinstance(answer, AIMessage)
    assert answer.content.startswith("According to the search results, ")
    assert json.loads(result.content)[0]["content"][5:] in answer.content


def test_round_trip_and_pretty_print(capsys: pytest.CaptureFixture[str]) -> None:
    messages = with_saver().invoke(SEED_INPUT, thread())["messages"]
    # The HTTP API hands out messages as plain dicts (JSON); clients rebuild them.
    dumped = json.loads(json.dumps([m.model_dump() for m in messages]))
    rebuilt = convert_to_messages(dumped)
    assert [type(m) for m in rebuilt] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    for before, after in zip(messages, rebuilt, strict=True):
        assert (after.type, after.id, after.content) == (before.type, before.id, before.content)
    assert rebuilt[1].tool_calls == messages[1].tool_calls
    assert isinstance(rebuilt[2], ToolMessage)
    assert rebuilt[2].name == "tavily_search_results_json"
    assert rebuilt[2].tool_call_id == messages[1].tool_calls[0]["id"]
    for message in rebuilt:
        message.pretty_print()
    printed = capsys.readouterr().out
    assert "Human Message" in printed
    assert "tavily_search_results_json" in printed
    assert "query: weather in san francisco" in printed
    assert "According to the search results" in printed


def test_scripted_model_directly() -> None:
    model = ScriptedChatModel()
    assert model.bind_tools([tavily_search_results_json]) is model
    reply = model.invoke([HumanMessage("what's the weather in sf?")])
    assert reply.tool_calls[0]["args"] == {"query": "weather in san francisco"}
    streamed = list(model.stream([HumanMessage("what's the weather in sf?")]))
    total = streamed[0]
    for chunk in streamed[1:]:
        total = total + chunk
    assert total.tool_calls == reply.tool_calls


def test_token_delay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(demo_model.MODEL_ENV, raising=False)
    monkeypatch.setenv(demo_model.TOKEN_DELAY_ENV, "0.001")
    model = make_model()
    assert isinstance(model, ScriptedChatModel)
    assert model.token_delay == 0.001
    texts = [
        message.content
        for message, _ in build_graph(model).stream(SEED_INPUT, stream_mode="messages")
        if isinstance(message, AIMessageChunk) and message.content
    ]
    assert len(texts) > 3

    monkeypatch.setenv(demo_model.TOKEN_DELAY_ENV, "soon")
    with pytest.raises(ValueError, match=demo_model.TOKEN_DELAY_ENV):
        make_model()

    monkeypatch.delenv(demo_model.TOKEN_DELAY_ENV)
    default = make_model()
    assert isinstance(default, ScriptedChatModel)
    assert default.token_delay == demo_model.DEFAULT_TOKEN_DELAY > 0


def test_real_model_without_langchain_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # langchain may be installed (the dev group has it, through langmem): make it absent.
    monkeypatch.setitem(sys.modules, "langchain", None)
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    monkeypatch.setenv(demo_model.MODEL_ENV, "openai:gpt-4o-mini")
    with pytest.raises(RuntimeError, match="pip install langchain"):
        make_model()
