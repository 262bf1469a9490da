"""One node that makes a large state (``kb`` KiB of values, distinct objects every run)."""

from __future__ import annotations

from typing import Any

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    label: str
    kb: int
    items: list[dict[str, Any]]


def grow(state: State) -> dict[str, Any]:
    label = state.get("label", "?")
    pad = "x" * 1000
    return {"items": [{"n": i, "text": f"{label}:{i}:{pad}"} for i in range(state.get("kb", 200))]}


builder = StateGraph(State)
builder.add_node("grow", grow)
builder.add_edge(START, "grow")
graph = builder.compile()
