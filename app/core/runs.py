"""The run creation command (API.md §4), checked once into a ``RunRequest``, and the rules
of a run create that do not touch the database (defaults, config merge, kwargs)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from app.core.errors import BadRequest, InvalidInput
from app.core.ids import uuid7

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
    one_of_configurable_and_context(body.config, body.context)
    if stateless and body.command and "resume" in body.command:
        raise BadRequest("You must provide a thread_id when resuming.")


def one_of_configurable_and_context(config: dict[str, Any] | None, context: Any) -> None:
    """A run or an assistant gets ``config.configurable`` or ``context``, not both (400, as
    the reference answers)."""
    if context and (config or {}).get("configurable"):
        raise BadRequest(
            "Cannot specify both configurable and context. Prefer setting context alone. "
            "Context was introduced in LangGraph 0.6.0 and is the long term planned replacement "
            "for configurable."
        )


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


def started(run_id: uuid.UUID, attempt: int) -> dict[str, Any]:
    """The data of an attempt's first stream event (``metadata``): the worker writes it,
    and a create-and-stream sends attempt 1's before any worker started the run."""
    return {"run_id": str(run_id), "attempt": attempt}


SUPERSEDING = ("interrupt", "rollback")
"""Strategies that cancel the thread's inflight runs before their run is created."""


@dataclass(frozen=True)
class RunRequest:
    """A run create as checked once (``validate``), with its defaults: the strategy (a
    stateless run enqueues), what a missing thread does (a stateless run creates it; else
    404 unless ``if_not_exists='create'``), the ids the create makes, when the run is due.
    Built before anything touches the database; the rest of the create only reads it."""

    body: RunCreate
    thread_id: uuid.UUID
    run_id: uuid.UUID
    stateless: bool
    strategy: str
    if_not_exists: str
    delay: float
    """``after_seconds``: the run is claimable this many seconds after it is created."""
    due: float | None
    """When a delayed run becomes claimable, epoch seconds (None: at once)."""
    waited: bool
    """A client waits for the output (stateless wait and stream)."""
    only_output: bool
    """A wait endpoint made it: the client takes its output, not its stream, so its events
    are written only while somebody reads the run or its thread live (unless
    ``stream_resumable`` asks for them)."""
    extra_metadata: dict[str, Any]
    """Metadata the server adds (a cron's id and tick)."""

    @classmethod
    def of(
        cls,
        body: RunCreate,
        thread_id: uuid.UUID | None,
        *,
        waited: bool = False,
        only_output: bool = False,
        extra_metadata: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> RunRequest:
        """Raises InvalidInput, BadRequest (``validate``). ``thread_id=None``: stateless."""
        stateless = thread_id is None
        validate(body, stateless=stateless)
        tid = thread_id or uuid7()
        delay = float(body.after_seconds or 0)
        at = time.time() if now is None else now
        return cls(
            body=body,
            thread_id=tid,
            run_id=uuid7(),
            stateless=stateless,
            strategy="enqueue" if stateless else (body.multitask_strategy or "enqueue"),
            if_not_exists="create" if stateless else (body.if_not_exists or "reject"),
            delay=delay,
            due=at + delay if delay > 0 else None,
            waited=waited,
            only_output=only_output,
            extra_metadata=dict(extra_metadata or {}),
        )

    @property
    def supersedes(self) -> bool:
        """Whether the thread's inflight runs are cancelled first (interrupt, rollback)."""
        return self.strategy in SUPERSEDING

    @property
    def queues(self) -> bool:
        """Whether the run waits (``queued``) behind an active run rather than fail 409."""
        return self.strategy != "reject"

    def kwargs(
        self, assistant: Mapping[str, Any], configurable: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The run's ``kwargs`` (what the worker runs): the assistant's config and context
        under the request's, the caller's ``configurable`` (the user always; request headers
        unless the config has the key), and the run's own ids."""
        body = self.body
        config = merge_config(assistant["config"] or {}, body.config)
        merged = config["configurable"]
        for key, value in configurable.items():
            if key in RESERVED_CONFIGURABLE:
                merged[key] = value
            else:
                merged.setdefault(key, value)
        context = {
            k: v
            for k, v in {**(assistant["context"] or {}), **(body.context or {})}.items()
            if k not in RESERVED_CONFIGURABLE
        }
        for key, value in context.items():  # as the reference: graphs reading
            merged.setdefault(key, value)  # configurable see the context too
        merged.update(
            {
                "run_id": str(self.run_id),
                "thread_id": str(self.thread_id),
                "graph_id": assistant["graph_id"],
                "assistant_id": str(assistant["assistant_id"]),
            }
        )
        checkpoint = body.checkpoint
        if checkpoint is not None:
            for key in ("checkpoint_ns", "checkpoint_id", "checkpoint_map"):
                value = getattr(checkpoint, key)
                if value is not None:
                    merged[key] = value
        if body.checkpoint_id:
            merged["checkpoint_id"] = body.checkpoint_id
        if merged.get("checkpoint_id"):
            try:
                uuid.UUID(str(merged["checkpoint_id"]))
            except ValueError:
                raise InvalidInput("Invalid checkpoint_id: must be a UUID") from None
        return {
            # With a command the input is not used (agent-chat-ui sends ``input: {}`` with
            # its resume command; the reference lets the command win).
            "input": None if body.command else body.input,
            "command": body.command,
            "config": config,
            "context": context,
            "stream_mode": stream_modes(body),
            "interrupt_before": body.interrupt_before,
            "interrupt_after": body.interrupt_after,
            "webhook": body.webhook,
            "feedback_keys": body.feedback_keys,
            "temporary": self.stateless,
            "subgraphs": bool(body.stream_subgraphs),
            "resumable": bool(body.stream_resumable),
            "strict_resume": bool(body.strict_resume),
            # absent: true, as the reference stores it (whatever the durability)
            "checkpoint_during": body.checkpoint_during is not False,
            "durability": durability(body),
            "on_completion": (body.on_completion or "delete") if self.stateless else None,
            "waited": self.waited,
            "events_when_watched": self.only_output and not body.stream_resumable,
        }
