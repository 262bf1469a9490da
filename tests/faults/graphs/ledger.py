"""The graph of the fault tests: ``chain`` runs n1..n4 in sequence, and every execution of a
node is recorded in a ledger that does not live in the database being faulted.

Each node first appends one JSON line ``{"thread", "node", "attempt", "pid", "at"}`` (``at``:
wall time, epoch seconds, when the execution started) to the file named by
``TURNSTILE_FAULTS_LEDGER``, then sleeps ``sleep`` seconds (default 0.2) and appends its name
to ``done``. Lines are written with one ``write`` on an ``O_APPEND`` file, so the processes
of a test (``serve`` and ``worker``) can share the file.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

NODES = ("n1", "n2", "n3", "n4")


class State(TypedDict, total=False):
    done: Annotated[list[str], operator.add]
    sleep: float


def record(node: str, config: RunnableConfig) -> None:
    line = json.dumps(
        {
            "thread": str(config["configurable"]["thread_id"]),
            "node": node,
            "attempt": int((config.get("metadata") or {}).get("run_attempt") or 0),
            "pid": os.getpid(),
            "at": time.time(),
        }
    )
    fd = os.open(os.environ["TURNSTILE_FAULTS_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _step(name: str) -> Callable[[State, RunnableConfig], Awaitable[dict[str, Any]]]:
    async def step(state: State, config: RunnableConfig) -> dict[str, Any]:
        record(name, config)
        await asyncio.sleep(state.get("sleep", 0.2))
        return {"done": [name]}

    step.__name__ = name
    return step


builder = StateGraph(State)
previous = START
for node in NODES:
    builder.add_node(node, _step(node))
    builder.add_edge(previous, node)
    previous = node
graph = builder.compile()
