"""The browser tests' graph ``gate``: it says it started, then holds (running) until the file
named by its input ``release`` exists, so a test sees a run while it is running."""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Annotated, Any

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    release: str
    log: Annotated[list[str], operator.add]


async def begin(state: State) -> dict[str, Any]:
    return {"log": ["started"]}


def hold(state: State) -> dict[str, Any]:
    # A sync node (LangGraph runs it in a thread): it polls the file the test creates.
    release = Path(state["release"])
    while not release.exists():
        time.sleep(0.02)
    return {"log": ["released"]}


builder = StateGraph(State)
builder.add_node("begin", begin)
builder.add_node("hold", hold)
builder.add_edge(START, "begin")
builder.add_edge("begin", "hold")
builder.add_edge("hold", END)
gate = builder.compile()
