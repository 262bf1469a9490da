"""Graphs for the crash tests: every node records each execution in ``node_runs``.

``chain`` runs n1..n5 in sequence. Each node first records (thread, node, attempt, pid) in
the test's table, then sleeps ``sleep`` seconds (default 0.3) and appends its name to
``done``. On attempt 1 only, the node named ``hold`` sleeps ``hold_seconds`` instead: a test
can park a run inside a chosen node until it kills the worker, and the resumed attempt then
goes on at normal speed. ``blocker`` has one async node that blocks the event loop with a
synchronous ``time.sleep(seconds)``.
"""

from __future__ import annotations

import asyncio
import operator
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

NODES = ("n1", "n2", "n3", "n4", "n5")


class State(TypedDict, total=False):
    done: Annotated[list[str], operator.add]
    sleep: float
    hold: str
    hold_seconds: float
    seconds: float


def _database_url() -> str:
    url = os.environ["DATABASE_URL"]
    return "postgresql://" + url.split("://", 1)[1]


async def record(node: str, config: RunnableConfig) -> int:
    """Insert this execution of ``node`` into ``node_runs``; returns the run attempt."""
    thread_id = str(config["configurable"]["thread_id"])
    attempt = int((config.get("metadata") or {}).get("run_attempt") or 0)
    conn = await asyncpg.connect(_database_url())
    try:
        await conn.execute(
            "INSERT INTO node_runs (thread_id, node, attempt, pid) VALUES ($1, $2, $3, $4)",
            thread_id,
            node,
            attempt,
            os.getpid(),
        )
    finally:
        await conn.close()
    return attempt


def _step(name: str) -> Callable[[State, RunnableConfig], Awaitable[dict[str, Any]]]:
    async def step(state: State, config: RunnableConfig) -> dict[str, Any]:
        attempt = await record(name, config)
        seconds = state.get("sleep", 0.3)
        if attempt == 1 and state.get("hold") == name:
            seconds = state.get("hold_seconds", 60.0)
        await asyncio.sleep(seconds)
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


async def block(state: State, config: RunnableConfig) -> dict[str, Any]:
    await record("block", config)
    # Blocks the worker's event loop on purpose.
    time.sleep(state.get("seconds", 1.0))  # noqa: ASYNC251
    return {"done": ["block"]}


blocker_builder = StateGraph(State)
blocker_builder.add_node("block", block)
blocker_builder.add_edge(START, "block")
blocker_builder.add_edge("block", END)
blocker = blocker_builder.compile()
