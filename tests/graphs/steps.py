"""Graphs for the run tests: a slow step that logs its label, a failing one, one that asks."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    label: str
    sleep: float
    answer: Any


async def work(state: State) -> dict[str, Any]:
    await asyncio.sleep(state.get("sleep", 0.0))
    return {"log": [state.get("label", "?")]}


async def finish(state: State) -> dict[str, Any]:
    return {"log": ["done:" + state.get("label", "?")]}


builder = StateGraph(State)
builder.add_node("work", work)
builder.add_node("finish", finish)
builder.add_edge(START, "work")
builder.add_edge("work", "finish")
builder.add_edge("finish", END)
graph = builder.compile()


async def explode(state: State) -> dict[str, Any]:
    raise ValueError("boom: " + state.get("label", "?"))


fail_builder = StateGraph(State)
fail_builder.add_node("explode", explode)
fail_builder.add_edge(START, "explode")
failing = fail_builder.compile()


async def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "continue?"})
    return {"answer": answer, "log": ["asked"]}


ask_builder = StateGraph(State)
ask_builder.add_node("ask", ask)
ask_builder.add_edge(START, "ask")
asking = ask_builder.compile()


# A graph with a subgraph that streams custom data and LLM tokens, then an interrupt().
def _talk(state: State) -> dict[str, Any]:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langgraph.config import get_stream_writer

    get_stream_writer()({"progress": "talking"})
    model = GenericFakeChatModel(messages=iter([AIMessage(content="hello from the inside")]))
    reply = model.invoke("hi")
    return {"log": ["talked:" + str(reply.content)]}


inner_builder = StateGraph(State)
inner_builder.add_node("talk", _talk)
inner_builder.add_edge(START, "talk")
inner = inner_builder.compile()

nested_builder = StateGraph(State)
nested_builder.add_node("inner", inner)
nested_builder.add_node("ask", ask)
nested_builder.add_edge(START, "inner")
nested_builder.add_edge("inner", "ask")
nested = nested_builder.compile()


# One node, for latency figures (bench/stream.py).
single_builder = StateGraph(State)
single_builder.add_node("work", work)
single_builder.add_edge(START, "work")
single = single_builder.compile()


class Settings(TypedDict, total=False):
    """What a run may set (``context``): the schemas' ``context_schema`` and
    ``config_schema`` (bench/differential.py)."""

    model: str
    temperature: float


# Two nodes, with a context schema.
configured_builder = StateGraph(State, context_schema=Settings)
configured_builder.add_node("work", work)
configured_builder.add_edge(START, "work")
configured = configured_builder.compile()


class BurstState(TypedDict, total=False):
    count: int


def _burst(state: BurstState) -> dict[str, Any]:
    """Write ``count`` custom stream events as fast as the node can (stream throughput)."""
    from langgraph.config import get_stream_writer

    write = get_stream_writer()
    for i in range(state.get("count", 0)):
        write({"i": i})
    return {}


burst_builder = StateGraph(BurstState)
burst_builder.add_node("burst", _burst)
burst_builder.add_edge(START, "burst")
burst = burst_builder.compile()


class TickState(TypedDict, total=False):
    ticks: int
    interval: float


async def _tick(state: TickState) -> dict[str, Any]:
    """Write a custom event every ``interval`` seconds, ``ticks`` times (a long stream)."""
    from langgraph.config import get_stream_writer

    write = get_stream_writer()
    for i in range(state.get("ticks", 0)):
        write({"tick": i})
        await asyncio.sleep(state.get("interval", 0.05))
    return {}


ticker_builder = StateGraph(TickState)
ticker_builder.add_node("tick", _tick)
ticker_builder.add_edge(START, "tick")
ticker = ticker_builder.compile()


# Long-term memory: a node writes to the store and reads it back (async), another (sync,
# run on a worker thread) counts the items of the namespace.
async def _remember(state: State) -> dict[str, Any]:
    from langgraph.config import get_store

    store = get_store()
    label = state.get("label", "?")
    await store.aput(("memories", label), "last", {"label": label})
    item = await store.aget(("memories", label), "last")
    return {"log": ["stored:" + str(item.value["label"] if item else None)]}


def _count(state: State) -> dict[str, Any]:
    from langgraph.config import get_store

    found = get_store().search(("memories", state.get("label", "?")))
    return {"log": [f"count:{len(found)}"]}


memory_builder = StateGraph(State)
memory_builder.add_node("remember", _remember)
memory_builder.add_node("count", _count)
memory_builder.add_edge(START, "remember")
memory_builder.add_edge("remember", "count")
memory = memory_builder.compile()
