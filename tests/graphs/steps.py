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
