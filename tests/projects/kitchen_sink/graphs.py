"""Graphs of the kitchen-sink project: a TypedDict state that reports what the run's config
and context carry, and one that takes a while."""

from __future__ import annotations

import asyncio
import os
import typing
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    seen: dict[str, Any]
    sleep: float
    answer: Any


def report(state: State, config: RunnableConfig) -> dict[str, Any]:
    configurable = config.get("configurable", {})
    return {
        "seen": {
            "model": configurable.get("model"),
            "tenant": configurable.get("x-tenant"),
            "user": configurable.get("langgraph_auth_user_id"),
            "greeting": os.environ.get("KS_GREETING"),
        }
    }


async def wait(state: State) -> dict[str, Any]:
    await asyncio.sleep(state.get("sleep", 0.0))
    return {}


echo = StateGraph(State)
echo.add_node("report", report)
echo.add_edge(START, "report")
echo.add_edge("report", END)

slow = StateGraph(State)
slow.add_node("wait", wait)
slow.add_edge(START, "wait")
slow.add_edge("wait", END)


def question(state: State) -> dict[str, Any]:
    return {"answer": interrupt({"question": "approve?"})}


ask = StateGraph(State)
ask.add_node("question", question)
ask.add_edge(START, "question")
ask.add_edge("question", END)


class Plain(typing.TypedDict, total=False):
    """A ``typing.TypedDict`` state (pydantic cannot read these on Python 3.11)."""

    count: int
    notes: list[str]


def bump(state: Plain) -> dict[str, Any]:
    return {"count": state.get("count", 0) + 1}


plain = StateGraph(Plain)
plain.add_node("bump", bump)
plain.add_edge(START, "bump")
plain.add_edge("bump", END)


def made(config: RunnableConfig) -> Any:
    """A factory: its node is named by the assistant's config (so only a graph built with
    that config can take a state update as that node)."""
    name = config.get("configurable", {}).get("node_name", "default")
    builder = StateGraph(Plain)
    builder.add_node(name, bump)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile()


def approve(state: State) -> dict[str, Any]:
    """An interrupt that says what answer it expects (``response_schema``)."""
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    return {"answer": interrupt({"question": "approve?"}, response_schema=schema)}


schema_ask = StateGraph(State)
schema_ask.add_node("approve", approve)
schema_ask.add_edge(START, "approve")
schema_ask.add_edge("approve", END)
