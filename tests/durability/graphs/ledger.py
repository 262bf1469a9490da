"""A graph for the database-fault tests: its ledger is a file, not the faulted database.

``ledger`` runs n1..n4 in sequence. Each node appends ``<thread> <node> <attempt> <pid>`` to
the file named by the state's ``ledger`` (so the tests can tell which nodes ran, how often
and in which attempt, whatever happened to PostgreSQL), then sleeps ``sleep`` seconds
(default 0.3) and appends its name to ``done``. The node named by ``store_at`` also puts
an item in the server's store (the database) after recording itself: a fault there is
raised out of the graph.
"""

from __future__ import annotations

import asyncio
import operator
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

NODES = ("n1", "n2", "n3", "n4")


class State(TypedDict, total=False):
    done: Annotated[list[str], operator.add]
    sleep: float
    ledger: str
    store_at: str


def _append(path: str, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(line)


def _step(name: str) -> Callable[[State, RunnableConfig], Awaitable[dict[str, Any]]]:
    async def step(state: State, config: RunnableConfig) -> dict[str, Any]:
        thread_id = str(config["configurable"]["thread_id"])
        attempt = int((config.get("metadata") or {}).get("run_attempt") or 0)
        line = f"{thread_id} {name} {attempt} {os.getpid()}\n"
        await asyncio.to_thread(_append, state["ledger"], line)
        if state.get("store_at") == name:
            await get_store().aput(("ledger",), thread_id, {"node": name})
        await asyncio.sleep(state.get("sleep", 0.3))
        return {"done": [name]}

    step.__name__ = name
    return step


builder = StateGraph(State)
previous = START
for node in NODES:
    builder.add_node(node, _step(node))
    builder.add_edge(previous, node)
    previous = node
builder.add_edge(previous, END)
graph = builder.compile()
