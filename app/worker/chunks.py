"""LangGraph stream chunks → SSE events (API.md §6.3).

``StreamMapper`` knows which modes the run asked for and turns each chunk of
``graph.astream(stream_mode=[...], subgraphs=True)`` into ``(event name, data)`` pairs:

* a mode's chunks are named after it; ``messages-tuple`` is sent as ``messages`` with
  ``[message chunk, metadata]``; the legacy ``messages`` mode accumulates chunks per message
  id into ``messages/metadata``, ``messages/partial`` and ``messages/complete``;
* chunks from a subgraph are named ``<mode>|<node>:<task id>|...``;
* an interrupt is always visible: ``updates`` is requested from LangGraph even when the run
  did not ask for it, and its ``__interrupt__`` chunk is sent as ``values`` when neither
  ``updates`` nor ``values`` (whose chunks carry the interrupt already) was asked for;
* ``debug`` checkpoint payloads gain the ``checkpoint``/``parent_checkpoint`` dicts.
"""

from __future__ import annotations

from typing import Any

Emitted = list[tuple[str, Any]]

# Modes whose chunks LangGraph produces under the same name.
_DIRECT = frozenset({"values", "updates", "custom", "debug", "tasks", "checkpoints"})


def _checkpoint_ref(config: Any) -> dict[str, Any] | None:
    if not isinstance(config, dict):
        return None
    configurable = config.get("configurable") or {}
    keys = ("thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map")
    return {k: configurable[k] for k in keys if k in configurable}


class StreamMapper:
    def __init__(self, modes: list[str], *, subgraphs: bool = False) -> None:
        self.modes = frozenset(modes)
        self.subgraphs = subgraphs
        self._messages: dict[str, Any] = {}

    @property
    def events_requested(self) -> bool:
        return "events" in self.modes

    def graph_modes(self) -> list[str]:
        """The ``stream_mode`` list to ask LangGraph for."""
        wanted = {m for m in self.modes if m in _DIRECT}
        if self.modes & {"messages", "messages-tuple"}:
            wanted.add("messages")
        wanted.add("updates")  # interrupts are read from here
        return sorted(wanted)

    def map(self, namespace: tuple[str, ...], mode: str, chunk: Any) -> Emitted:
        suffix = "".join("|" + part for part in namespace)
        if mode == "messages":
            return self._message(suffix, chunk)
        if mode == "updates":
            if "updates" in self.modes:
                return [("updates" + suffix, chunk)]
            if (
                isinstance(chunk, dict)
                and "__interrupt__" in chunk
                and "values" not in self.modes
                and not namespace
            ):
                return [("values", {"__interrupt__": chunk["__interrupt__"]})]
            return []
        if mode not in self.modes:
            return []
        if mode == "debug" and isinstance(chunk, dict) and chunk.get("type") == "checkpoint":
            payload = dict(chunk.get("payload") or {})
            payload["checkpoint"] = _checkpoint_ref(payload.get("config"))
            payload["parent_checkpoint"] = _checkpoint_ref(payload.get("parent_config"))
            chunk = {**chunk, "payload": payload}
        return [(mode + suffix, chunk)]

    def _message(self, suffix: str, chunk: Any) -> Emitted:
        message, metadata = chunk
        out: Emitted = []
        if "messages-tuple" in self.modes:
            out.append(("messages" + suffix, [message, metadata]))
        if "messages" in self.modes:
            out.extend(self._legacy(suffix, message, metadata))
        return out

    def _legacy(self, suffix: str, message: Any, metadata: Any) -> Emitted:
        msg_id = getattr(message, "id", None) or ""
        out: Emitted = []
        seen = self._messages.get(msg_id)
        if seen is None:
            out.append(("messages/metadata" + suffix, {msg_id: {"metadata": metadata}}))
        if type(message).__name__.endswith("Chunk"):
            merged = message if seen is None else seen + message
            self._messages[msg_id] = merged
            out.append(("messages/partial" + suffix, [merged]))
        else:
            self._messages[msg_id] = message
            out.append(("messages/complete" + suffix, [message]))
        return out
