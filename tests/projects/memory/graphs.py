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


def _langmem() -> Any:
    """LangMem's memory tools (``langmem`` from PyPI), called by the nodes of a real graph:
    the store they reach is the run's (``get_store()``), so Turnstile's."""
    from langmem import create_manage_memory_tool, create_search_memory_tool

    manage = create_manage_memory_tool(namespace=("langmem", "{langgraph_user_id}"))
    search = create_search_memory_tool(namespace=("langmem", "{langgraph_user_id}"))

    async def remember(state: State) -> dict[str, Any]:
        if state.get("remember"):
            await manage.ainvoke({"content": state["remember"], "action": "create"})
        return {}

    async def recall(state: State) -> dict[str, Any]:
        found = await search.ainvoke({"query": state["query"], "limit": 2})
        return {"found": [{"text": str(found)}]}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_node("recall", recall)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "recall")
    builder.add_edge("recall", END)
    return builder.compile()


langmem_graph = _langmem()
