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


HIDDEN_CONFIGURABLE = (
    "thread_id",
    "checkpoint_id",
    "checkpoint_ns",
    "__pregel_checkpointer",
    "__pregel_store",
)
"""Keys of ``configurable`` the server sets itself: not part of a graph's config schema."""


def _state_schema(graph: Any) -> Any:
    """The graph's state as the reference describes it: one property per state channel,
    typed by what the channel accepts (``Any`` where pydantic cannot express it). Built
    from the channels, so ``typing.TypedDict`` states work on Python 3.11 as well."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for name in graph.stream_channels_list:
        kind = graph.channels[name].UpdateType
        try:
            create_model(name, value=(kind, None)).model_json_schema()
        except Exception:  # not expressible as JSON schema
            kind = Any
        fields[name] = (kind, None)
    return create_model(graph.get_name("State"), **fields).model_json_schema()


def _config_schema(graph: Any) -> Any:
    """The schema of the graph's ``configurable`` (not of the whole RunnableConfig), without
    the keys the server sets; ``{}`` when the graph declares none."""
    from pydantic import TypeAdapter

    model = graph.config_schema()
    fields = getattr(model, "model_fields", None) or {}
    if "configurable" not in fields:
        return {}
    annotation: Any = fields["configurable"].annotation
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    for key in HIDDEN_CONFIGURABLE:
        schema.get("properties", {}).pop(key, None)
    config_type = getattr(graph, "config_type", None)
    if config_type is not None and hasattr(config_type, "__name__"):
        schema["title"] = config_type.__name__
    return schema


def schemas(graph: Any) -> dict[str, Any]:
    return {
        "input_schema": _safe(graph.get_input_jsonschema),
        "output_schema": _safe(graph.get_output_jsonschema),
        "state_schema": _safe(lambda: _state_schema(graph)),
        "config_schema": _safe(lambda: _config_schema(graph)),
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
