"""What the assistant endpoints show of a graph: its drawing, schemas and subgraphs."""

from __future__ import annotations

import logging
from typing import Any

from app.core.errors import InvalidInput

log = logging.getLogger("turnstile.api")


def _safe(make: Any) -> Any:
    try:
        return make()
    except Exception as exc:  # a schema LangGraph/pydantic cannot express: shown as null
        log.debug("schema unavailable: %r", exc)
        return None


def _state_schema(graph: Any) -> Any:
    builder = getattr(graph, "builder", None)
    state = getattr(builder, "state_schema", None)
    if state is None:
        return None
    from pydantic import TypeAdapter

    return TypeAdapter(state).json_schema()


def schemas(graph: Any) -> dict[str, Any]:
    return {
        "input_schema": _safe(graph.get_input_jsonschema),
        "output_schema": _safe(graph.get_output_jsonschema),
        "state_schema": _safe(lambda: _state_schema(graph)),
        "config_schema": _safe(graph.get_config_jsonschema),
        "context_schema": _safe(graph.get_context_jsonschema),
    }


def drawing(graph: Any, xray: bool | int) -> dict[str, Any]:
    """``{"nodes": [...], "edges": [...]}`` with the nodes' ``data.id`` (module paths) removed."""
    try:
        drawn: dict[str, Any] = graph.get_graph(xray=xray).to_json()
    except Exception as exc:
        raise InvalidInput(f"The graph cannot be drawn: {exc}") from None
    for node in drawn.get("nodes", []):
        data = node.get("data")
        if isinstance(data, dict):
            data.pop("id", None)
    return drawn


def subgraphs(graph: Any, namespace: str | None, recurse: bool) -> dict[str, Any]:
    return {
        ns: schemas(sub) for ns, sub in graph.get_subgraphs(namespace=namespace, recurse=recurse)
    }


def parse_xray(value: str | None) -> bool | int:
    if value is None or value in ("", "false", "False", "0"):
        return False
    if value in ("true", "True"):
        return True
    try:
        depth = int(value)
    except ValueError:
        raise InvalidInput(f"Invalid xray value: {value!r}") from None
    if depth <= 0:
        raise InvalidInput("xray must be a positive integer or a boolean")
    return depth
