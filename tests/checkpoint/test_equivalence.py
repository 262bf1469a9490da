"""The same graph on InMemorySaver and on PostgresSaver (plain, and as a run uses it): same
states, history and subgraph state.

The graph has a fan-out (three Sends plus a parallel static edge), a subgraph node and an
``interrupt()`` inside the subgraph, resumed with ``Command(resume=...)``. Checkpoint and task
ids differ between the two runs (they are random), so snapshots are compared without them.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import asyncpg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Send, StateSnapshot, interrupt

from app.checkpoint import PostgresSaver


class State(TypedDict, total=False):
    topic: str
    items: Annotated[list[str], operator.add]
    answer: str
    summary: str


class SubState(TypedDict, total=False):
    items: Annotated[list[str], operator.add]
    answer: str


class WorkArg(TypedDict):
    item: str


def plan(state: State) -> State:
    return {"items": [f"plan:{state['topic']}"]}


def fan_out(state: State) -> list[Send]:
    return [Send("work", {"item": f"{state['topic']}-{i}"}) for i in range(3)]


def work(arg: WorkArg) -> State:
    return {"items": [arg["item"].upper()]}


def side(state: State) -> State:
    return {"items": ["side"]}


def sub_prepare(state: SubState) -> SubState:
    return {"items": [f"sub:{len(state['items'])}"]}


def ask(state: SubState) -> SubState:
    answer = interrupt({"question": "approve?", "count": len(state["items"])})
    return {"answer": answer}


def finish(state: State) -> State:
    return {"summary": f"{state['answer']}:{len(state['items'])}"}


def build(checkpointer: BaseCheckpointSaver[Any]) -> CompiledStateGraph[Any, Any, Any, Any]:
    sub = (
        StateGraph(SubState)
        .add_node("sub_prepare", sub_prepare)
        .add_node("ask", ask)
        .add_edge(START, "sub_prepare")
        .add_edge("sub_prepare", "ask")
        .add_edge("ask", END)
        .compile()
    )
    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("work", work)
    builder.add_node("side", side)
    builder.add_node("review", sub)
    builder.add_node("finish", finish)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan_out, ["work"])
    builder.add_edge("plan", "side")
    builder.add_edge("work", "review")
    builder.add_edge("side", "review")
    builder.add_edge("review", "finish")
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer)


def norm(snapshot: StateSnapshot) -> dict[str, Any]:
    """A snapshot without ids and timestamps."""
    metadata = snapshot.metadata or {}
    return {
        "values": snapshot.values,
        "next": snapshot.next,
        "source": metadata.get("source"),
        "step": metadata.get("step"),
        "parents": len(metadata.get("parents") or {}),
        "has_parent": snapshot.parent_config is not None,
        "interrupts": [i.value for i in snapshot.interrupts],
        "tasks": [
            {
                "name": t.name,
                "path": t.path,
                "error": repr(t.error) if t.error else None,
                "interrupts": [i.value for i in t.interrupts],
                "result": t.result,
                "state": norm(t.state) if isinstance(t.state, StateSnapshot) else None,
            }
            for t in snapshot.tasks
        ],
    }


async def scenario(checkpointer: BaseCheckpointSaver[Any]) -> dict[str, Any]:
    graph = build(checkpointer)
    config: dict[str, Any] = {"configurable": {"thread_id": "equivalence-thread"}}
    first = await graph.ainvoke({"topic": "t", "items": []}, config)
    interrupted = await graph.aget_state(config, subgraphs=True)
    final = await graph.ainvoke(Command(resume="yes"), config)
    done = await graph.aget_state(config, subgraphs=True)
    history = [norm(s) async for s in graph.aget_state_history(config)]
    limited = [norm(s) async for s in graph.aget_state_history(config, limit=2)]
    inputs = [norm(s) async for s in graph.aget_state_history(config, filter={"source": "input"})]
    return {
        "first": {
            "values": {k: v for k, v in first.items() if k != "__interrupt__"},
            "interrupts": [i.value for i in first.get("__interrupt__", [])],
        },
        "interrupted": norm(interrupted),
        "final": final,
        "done": norm(done),
        "history": history,
        "limited": limited,
        "inputs": inputs,
    }


async def test_same_behaviour_as_in_memory_saver(saver: PostgresSaver) -> None:
    expected = await scenario(InMemorySaver())
    actual = await scenario(saver)

    # The scenario exercised what it claims to.
    interrupted = expected["interrupted"]
    assert interrupted["next"] == ("review",)
    [review] = interrupted["tasks"]
    assert review["interrupts"] == [{"question": "approve?", "count": 6}]
    assert review["state"] is not None
    assert review["state"]["next"] == ("ask",)
    assert (
        expected["final"]["summary"] == "yes:11"
    )  # the subgraph returns its whole list, added again
    assert len(expected["history"]) >= 6

    for key in expected:
        assert actual[key] == expected[key], key


async def test_subgraph_checkpoints_are_stored_in_their_namespace(
    saver: PostgresSaver, pool: asyncpg.Pool
) -> None:
    graph = build(saver)
    config: dict[str, Any] = {"configurable": {"thread_id": "ns-thread"}}
    await graph.ainvoke({"topic": "x", "items": []}, config)
    await graph.aget_state(config)  # a run's saver: reading waits for its writes
    rows = await pool.fetch(
        "SELECT DISTINCT checkpoint_ns FROM checkpoints WHERE thread_id = $1", "ns-thread"
    )
    namespaces = sorted(r["checkpoint_ns"] for r in rows)
    assert namespaces[0] == ""
    assert len(namespaces) == 2
    assert namespaces[1].startswith("review:")
