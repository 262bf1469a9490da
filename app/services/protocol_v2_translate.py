"""Protocol v2: the translation of one thread's stored run events into v2 events.

See ``app.services.protocol_v2`` for what the events are and how ``seq`` is derived. The
state kept per run (open messages, open subgraphs, whether it failed or was interrupted)
makes the output of each stored event depend only on the log before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
from langchain_core.language_models import _compat_bridge as bridge
from langchain_core.messages import AIMessageChunk, BaseMessage, messages_from_dict

from app.db.events import Event

PER_EVENT = 4096
"""v2 events one stored event may become (seq = stored id * PER_EVENT + index)."""


class V2Event(NamedTuple):
    seq: int
    event_id: str
    method: str
    namespace: list[str]
    timestamp: int
    data: Any

    def channel(self) -> str:
        if self.method == "input.requested":
            return "input"
        if self.method == "custom":
            name = self.data.get("name") if isinstance(self.data, dict) else None
            return f"custom:{name}" if name else "custom"
        return self.method

    def wire(self) -> dict[str, Any]:
        return {
            "type": "event",
            "event_id": self.event_id,
            "seq": self.seq,
            "method": self.method,
            "params": {"namespace": self.namespace, "timestamp": self.timestamp, "data": self.data},
        }


Lookup = Callable[[uuid.UUID], Awaitable[tuple[str | None, str | None]]]
"""A run's (graph id, status), or (None, None) when it is gone."""


@dataclass
class _Message:
    blocks: dict[Any, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    usage: Any = None
    response_metadata: dict[str, Any] = field(default_factory=dict)
    additional_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Run:
    graph: str | None
    messages: dict[tuple[tuple[str, ...], str], _Message] = field(default_factory=dict)
    subgraphs: dict[tuple[str, ...], str] = field(default_factory=dict)
    error: str | None = None
    interrupted: bool = False


Out = list[tuple[str, tuple[str, ...], Any]]


class Translator:
    """Stored events of one thread, in log order → v2 events (see the module docstring)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.runs: dict[uuid.UUID, _Run] = {}

    async def feed(self, event: Event) -> list[V2Event]:
        out = await self._translate(event)
        made = []
        for i, (method, namespace, data) in enumerate(out[:PER_EVENT]):
            event_id = event.wire_id if i == 0 else f"{event.wire_id}.{i}"
            seq = event.event_id * PER_EVENT + i
            made.append(V2Event(seq, event_id, method, list(namespace), event.created_ms, data))
        return made

    async def _translate(self, event: Event) -> Out:
        name, *parts = event.event.split("|")
        namespace = tuple(parts)
        data = msgspec.json.decode(event.data)
        if name == "metadata" and isinstance(data, dict):
            if data.get("status") == "run_done" and "run_id" in data:
                return await self._end(uuid.UUID(str(data["run_id"])))
            if event.run_id is not None and event.run_id not in self.runs:
                run = await self._run(event.run_id)
                return [("lifecycle", (), {"event": "running", "graph_name": run.graph})]
            return []
        if event.run_id is None:
            return []  # thread-level (state_update): not a v2 event
        run = await self._run(event.run_id)
        out: Out = self._open_subgraphs(run, namespace) if namespace else []
        if name == "values" and isinstance(data, dict):
            out.append(
                ("values", namespace, {k: v for k, v in data.items() if k != "__interrupt__"})
            )
        elif name == "updates" and isinstance(data, dict):
            out.extend(self._updates(run, namespace, data))
        elif name == "messages" and isinstance(data, list) and len(data) == 2:
            out.extend(self._message(run, namespace, data[0], data[1]))
        elif name == "custom":
            out.append(("custom", namespace, data))
        elif name == "tasks" and isinstance(data, dict):
            out.append(("tasks", namespace, data))
            out.extend(self._task_result(run, namespace, data))
        elif name == "error" and isinstance(data, dict):
            run.error = str(data.get("message") or data.get("error") or "error")
        return out

    async def _run(self, run_id: uuid.UUID) -> _Run:
        run = self.runs.get(run_id)
        if run is None:
            graph, _ = await self.lookup(run_id)
            run = self.runs[run_id] = _Run(graph)
        return run

    async def _end(self, run_id: uuid.UUID) -> Out:
        """The run ended: finish what is open, then the root lifecycle's last event."""
        run = self.runs.pop(run_id, None)
        if run is None:
            return []  # it never started (cancelled while waiting): nothing was announced
        out: Out = []
        for key in list(run.messages):
            out.extend(self._finish_message(run, key))
        for namespace in sorted(run.subgraphs, key=len, reverse=True):
            out.append(self._subgraph_end(run, namespace, "completed"))
        error = run.error
        if error is None and not run.interrupted:
            _, status = await self.lookup(run_id)
            if status in ("error", "timeout"):
                error = "The run failed."
            elif status == "interrupted":
                error = "The run was cancelled."
        lifecycle: dict[str, Any] = {"graph_name": run.graph}
        if error is not None:
            lifecycle.update(event="failed", error=error)
        else:
            lifecycle["event"] = "interrupted" if run.interrupted else "completed"
        out.append(("lifecycle", (), lifecycle))
        return out

    # --- subgraphs ----------------------------------------------------------------------

    def _open_subgraphs(self, run: _Run, namespace: tuple[str, ...]) -> Out:
        out: Out = []
        for depth in range(1, len(namespace) + 1):
            prefix = namespace[:depth]
            if prefix in run.subgraphs:
                continue
            graph, _, task_id = prefix[-1].partition(":")
            run.subgraphs[prefix] = graph
            started = {
                "event": "started",
                "namespace": list(prefix),
                "graph_name": graph,
                "trigger_call_id": task_id or None,
            }
            out.append(("lifecycle", prefix, started))
        return out

    def _subgraph_end(self, run: _Run, namespace: tuple[str, ...], how: str) -> Any:
        graph = run.subgraphs.pop(namespace)
        return ("lifecycle", namespace, {"event": how, "graph_name": graph})

    def _task_result(self, run: _Run, namespace: tuple[str, ...], data: dict[str, Any]) -> Out:
        if "result" not in data and "error" not in data:
            return []  # a task's start
        child = (*namespace, f"{data.get('name')}:{data.get('id')}")
        if child not in run.subgraphs:
            return []
        out: Out = []
        for open_ns in sorted(run.subgraphs, key=len, reverse=True):
            if len(open_ns) > len(child) and open_ns[: len(child)] == child:
                out.append(self._subgraph_end(run, open_ns, "completed"))
        how = "failed" if data.get("error") else "interrupted" if data.get("interrupts") else ""
        out.append(self._subgraph_end(run, child, how or "completed"))
        return out

    # --- updates and interrupts ---------------------------------------------------------

    def _updates(self, run: _Run, namespace: tuple[str, ...], data: dict[str, Any]) -> Out:
        out: Out = []
        returned = _message_ids(data)
        for key in [k for k in run.messages if k[0] == namespace and k[1] in returned]:
            out.extend(self._finish_message(run, key))  # its node returned it: it is done
        rest = {k: v for k, v in data.items() if k != "__interrupt__"}
        if rest:
            out.append(("updates", namespace, rest))
        interrupts = data.get("__interrupt__")
        if namespace or not isinstance(interrupts, list):
            return out  # a subgraph's interrupt reaches the root's updates too
        for item in interrupts:
            if isinstance(item, dict) and item.get("id"):
                run.interrupted = True
                value = item.get("value")
                request = {"interrupt_id": item["id"], "payload": value, "value": value}
                out.append(("input.requested", (), request))
        return out

    # --- messages and tools -------------------------------------------------------------

    def _message(self, run: _Run, namespace: tuple[str, ...], raw: Any, metadata: Any) -> Out:
        if not isinstance(raw, dict):
            return []
        kind = raw.get("type")
        if kind == "tool":
            return [("tools", namespace, _tool_outcome(raw))] if raw.get("tool_call_id") else []
        if kind not in ("AIMessageChunk", "ai"):
            return []
        message = _message_of(raw)
        if message is None:
            return []
        key = (namespace, str(message.id or ""))
        state = run.messages.get(key)
        if kind == "ai":
            if state is not None:  # the whole message after its chunks
                return self._finish_message(run, key)
            whole: Out = [("messages", namespace, e) for e in bridge.message_to_events(message)]
            calls = list(getattr(message, "tool_calls", None) or [])
            return whole + [("tools", namespace, e) for e in _tool_starts(calls)]
        out: Out = []
        if state is None:
            state = run.messages[key] = _Message()
            start: dict[str, Any] = dict(bridge._build_message_start(message, message.id))
            node = metadata.get("langgraph_node") if isinstance(metadata, dict) else None
            if node:
                start["metadata"] = {**(start.get("metadata") or {}), "langgraph_node": node}
            out.append(("messages", namespace, start))
        out.extend(("messages", namespace, e) for e in _chunk_events(state, message))
        if getattr(message, "chunk_position", None) == "last":
            out.extend(self._finish_message(run, key))
        return out

    def _finish_message(self, run: _Run, key: tuple[tuple[str, ...], str]) -> Out:
        state = run.messages.pop(key, None)
        if state is None:
            return []
        namespace = key[0]
        out: Out = []
        calls = []
        for index, block in state.blocks.values():
            finished = bridge._finalize_and_build_finish(index, block)
            out.append(("messages", namespace, finished))
            content = finished.get("content") if isinstance(finished, dict) else None
            if isinstance(content, dict) and content.get("type") == "tool_call":
                calls.append(content)
        done = bridge._build_message_finish(
            usage=state.usage,
            response_metadata=state.response_metadata,
            additional_kwargs=state.additional_kwargs,
        )
        out.append(("messages", namespace, done))
        out.extend(("tools", namespace, e) for e in _tool_starts(calls))
        return out


def _message_ids(update: dict[str, Any]) -> set[str]:
    """The ids of the messages in an ``updates`` chunk's node outputs."""
    ids: set[str] = set()
    for output in update.values():
        for value in output.values() if isinstance(output, dict) else ():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and item.get("id"):
                    ids.add(str(item["id"]))
    return ids


def _message_of(raw: dict[str, Any]) -> BaseMessage | None:
    try:
        return messages_from_dict([{"type": raw["type"], "data": raw}])[0]
    except Exception:
        return None


def _chunk_events(state: _Message, message: BaseMessage) -> list[Any]:
    """The block events of one chunk (as langchain-core's ``chunks_to_events``)."""
    if message.response_metadata:
        state.response_metadata.update(message.response_metadata)
    if message.additional_kwargs:
        state.additional_kwargs.update(message.additional_kwargs)
    out: list[Any] = []
    for key, block in bridge._iter_protocol_blocks(message):
        if key not in state.blocks:
            index = len(state.blocks)
            state.blocks[key] = (index, dict(block))
            start = bridge._start_skeleton(block)
            out.append({"event": "content-block-start", "index": index, "content": start})
        else:
            index, known = state.blocks[key]
            state.blocks[key] = (index, bridge._accumulate(known, block))
        delta = bridge._to_content_delta(block)
        if delta is not None:
            out.append({"event": "content-block-delta", "index": index, "delta": delta})
    usage = getattr(message, "usage_metadata", None)
    if isinstance(message, AIMessageChunk) and usage:
        state.usage = bridge._accumulate_usage(state.usage, usage)
    return out


def _tool_starts(calls: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "event": "tool-started",
            "tool_call_id": call["id"],
            "tool_name": call.get("name") or "",
            "input": call.get("args"),
        }
        for call in calls
        if isinstance(call, dict) and call.get("id")
    ]


def _tool_outcome(raw: dict[str, Any]) -> dict[str, Any]:
    content = raw.get("content")
    if raw.get("status") == "error":
        return {"event": "tool-error", "tool_call_id": raw["tool_call_id"], "message": content}
    return {"event": "tool-finished", "tool_call_id": raw["tool_call_id"], "output": content}
