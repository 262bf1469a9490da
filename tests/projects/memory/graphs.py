"""Graphs that remember and recall through the store's semantic search, from async and
sync nodes."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    remember: str
    query: str
    found: list[dict[str, Any]]


async def recall(state: State, *, store: BaseStore) -> dict[str, Any]:
    if state.get("remember"):
        await store.aput(("memories",), state["remember"][:20], {"text": state["remember"]})
    hits = await store.asearch(("memories",), query=state["query"], limit=3)
    return {"found": [{"key": h.key, "score": h.score} for h in hits]}


def recall_sync(state: State, *, store: BaseStore) -> dict[str, Any]:
    hits = store.search(("memories",), query=state["query"], limit=3)
    return {"found": [{"key": h.key, "score": h.score} for h in hits]}


def _graph(node: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("recall", node)
    builder.add_edge(START, "recall")
    builder.add_edge("recall", END)
    return builder.compile()


memory = _graph(recall)
memory_sync = _graph(recall_sync)
