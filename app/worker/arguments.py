"""What a run's graph is called with, from the run's kwargs: its config (with the run's
metadata), its input (the input, a ``Command``, or nothing when resuming from the last
checkpoint) and its stream options."""

from __future__ import annotations

from typing import Any

from langgraph.types import Command, Send

from app.auth.user import AuthUser
from app.worker.chunks import StreamMapper
from app.worker.claimed import ClaimedRun


class UnknownInterruptError(Exception):
    """``strict_resume``: the resume names no interrupt the thread is waiting on."""


def config(run: ClaimedRun) -> tuple[dict[str, Any], Any]:
    """The graph's config for this run, and its graph id."""
    out: dict[str, Any] = dict(run.kwargs.get("config") or {})
    configurable = dict(out.get("configurable") or {})
    graph_id = configurable.get("graph_id")
    if isinstance(configurable.get("langgraph_auth_user"), dict):
        configurable["langgraph_auth_user"] = AuthUser(configurable["langgraph_auth_user"])
    out["configurable"] = configurable
    out["metadata"] = {
        **(out.get("metadata") or {}),
        **run.metadata,
        "run_id": str(run.run_id),
        "thread_id": str(run.thread_id),
        "graph_id": graph_id,
        "assistant_id": str(run.assistant_id),
        "run_attempt": run.attempt,
    }
    out["run_id"] = run.run_id  # the root callback run: LangSmith and astream_events
    return out, graph_id


def command(raw: dict[str, Any]) -> Command[Any]:
    """The run's ``command`` (API.md §4) as LangGraph's ``Command``."""
    goto = raw.get("goto")
    if isinstance(goto, dict):
        goto = Send(goto["node"], goto.get("input"))
    elif isinstance(goto, list):
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in goto]
    kwargs: dict[str, Any] = {}
    if "resume" in raw:
        kwargs["resume"] = raw["resume"]
    if raw.get("update") is not None:
        update = raw["update"]
        kwargs["update"] = [tuple(u) for u in update] if isinstance(update, list) else update
    if goto is not None:
        kwargs["goto"] = goto
    return Command(**kwargs)


async def _check_resumable(graph: Any, config: dict[str, Any], resume: Any) -> None:
    snapshot = await graph.aget_state(
        {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
    )
    waiting = {i.id for task in snapshot.tasks for i in task.interrupts}
    if not waiting:
        raise UnknownInterruptError("The thread is not waiting on any interrupt to resume.")
    if isinstance(resume, dict) and resume and not set(resume) & waiting:
        unknown = ", ".join(sorted(map(str, resume)))
        raise UnknownInterruptError(f"No pending interrupt with id {unknown}.")


async def graph_input(
    graph: Any, run: ClaimedRun, config: dict[str, Any], mapper: StreamMapper, *, resume: bool
) -> tuple[Any, dict[str, Any]]:
    """(input, stream options) of the graph's ``astream``. ``resume``: an earlier attempt
    (or this one, before a database fault) left a checkpoint: continue from it, so the
    nodes (and tasks) it completed are not run again. Raises ``UnknownInterruptError``
    for a ``strict_resume`` command that resumes nothing."""
    kwargs = run.kwargs
    value: Any
    if resume:
        value = None
        configurable = config["configurable"]
        for key in ("checkpoint_id", "checkpoint_map"):
            configurable.pop(key, None)
    elif kwargs.get("command"):
        value = command(kwargs["command"])
        if kwargs.get("strict_resume") and "resume" in kwargs["command"]:
            await _check_resumable(graph, config, kwargs["command"]["resume"])
    else:
        value = kwargs.get("input")
    options: dict[str, Any] = {
        "stream_mode": mapper.graph_modes(),
        "subgraphs": mapper.subgraphs,
        "durability": kwargs.get("durability") or "async",
    }
    for key in ("interrupt_before", "interrupt_after", "context"):
        if kwargs.get(key):
            options[key] = kwargs[key]
    return value, options
