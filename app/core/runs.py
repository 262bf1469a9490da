"""The run creation command (API.md §4) and the rules that do not touch the database."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from app.core import jsonable
from app.core.errors import BadRequest, InvalidInput

STREAM_MODES = (
    "values",
    "messages",
    "messages-tuple",
    "updates",
    "events",
    "debug",
    "custom",
    "tasks",
    "checkpoints",
)

# Keys the server owns inside config.configurable / context (API.md §1).
RESERVED_CONFIGURABLE = frozenset(
    {
        "langgraph_auth_user",
        "langgraph_auth_user_id",
        "langgraph_auth_permissions",
        "langgraph_request_id",
        "__after_seconds__",
        "__request_start_time_ms__",
        "__pregel_node_finished",
        "__context_provided__",
    }
)


class CheckpointRef(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class RunCreate(msgspec.Struct, kw_only=True):
    assistant_id: str
    input: Any = None
    command: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    checkpoint_id: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_during: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None
    if_not_exists: Literal["create", "reject"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    after_seconds: float | None = None
    webhook: str | None = None
    feedback_keys: list[str] | None = None
    langsmith_tracer: dict[str, Any] | None = None
    strict_resume: bool | None = None


def validate(body: RunCreate, *, stateless: bool) -> None:
    """Reject what cannot be honoured; 422 names a field this server does not offer yet."""
    if body.after_seconds is not None and not 0 <= body.after_seconds <= 366 * 86400:
        raise InvalidInput("after_seconds must be between 0 and a year")
    for mode in stream_modes(body):
        if mode not in STREAM_MODES:
            raise InvalidInput(
                f"Invalid stream_mode: {mode!r}. Expected one of {list(STREAM_MODES)}"
            )
    configurable = (body.config or {}).get("configurable") or {}
    if body.context and configurable:
        raise BadRequest(
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement "
            "for configurable."
        )
    if stateless and body.command and "resume" in body.command:
        raise BadRequest("You must provide a thread_id when resuming.")
    if body.input is not None and body.command:
        raise InvalidInput("Cannot specify both input and command.")


def stream_modes(body: RunCreate) -> list[str]:
    mode = body.stream_mode
    if mode is None:
        return ["values"]
    return [mode] if isinstance(mode, str) else list(mode)


def durability(body: RunCreate) -> str:
    if body.durability:
        return body.durability
    if body.checkpoint_during is False:
        return "exit"
    return "async"


def merge_config(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Run config over assistant config: tags added, configurable merged, rest replaced."""
    override = override or {}
    out = {**base, **{k: v for k, v in override.items() if k not in ("configurable", "tags")}}
    tags = list(base.get("tags") or [])
    tags += [t for t in override.get("tags") or [] if t not in tags]
    if tags:
        out["tags"] = tags
    configurable = {**(base.get("configurable") or {})}
    configurable.update(
        {
            k: v
            for k, v in (override.get("configurable") or {}).items()
            if k not in RESERVED_CONFIGURABLE and not k.startswith(("__langsmith_", "__otel_"))
        }
    )
    out["configurable"] = configurable
    return out


def first_metadata(run_id: uuid.UUID) -> str:
    """The JSON of a run's first stream event (``metadata`` of attempt 1), as the worker
    writes it and as a create-and-stream sends it before the worker starts."""
    return jsonable.dumps_str({"run_id": str(run_id), "attempt": 1})
