"""A graph whose node logs a line (the observability tests find it, with the run's ids, in
the worker's log) and may sleep, to keep its thread busy."""

from __future__ import annotations

import asyncio
import logging
import operator
from typing import Annotated, Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

log = logging.getLogger("tests.noisy")


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    label: str
    sleep: float


async def speak(state: State) -> dict[str, Any]:
    log.warning("speaking for %s", state.get("label", "?"))
    await asyncio.sleep(state.get("sleep", 0.0))
    return {"log": ["spoke:" + state.get("label", "?")]}


async def close(state: State) -> dict[str, Any]:
    return {"log": ["closed"]}


builder = StateGraph(State)
builder.add_node("speak", speak)
builder.add_node("close", close)
builder.add_edge(START, "speak")
builder.add_edge("speak", "close")
graph = builder.compile()
