"""What the API answers: its response shapes as msgspec Structs, and the one conversion of
each database record into its shape.

A handler serves one of these Structs (msgspec encodes it); ``/openapi.json`` is generated
from the same classes (``app.api.openapi``), so the document describes what is served.
Request bodies are Structs too, in ``app.api.schemas`` and ``app.core.runs``.

The rules of the shapes, kept in the conversions below and nowhere else:

- fields come in the resource's order (its table's columns, as clients have always seen
  them), whatever order a ``select`` asked for;
- a NULL column is ``null``; a field the record lacks (left out by a ``select``) is UNSET,
  absent from the JSON, so every field of a searchable resource is optional;
- times are strings as ``datetime.isoformat()`` writes them (``+00:00``, where msgspec
  would write ``Z``); ids are UUIDs, which msgspec writes in their canonical form;
- a ``queued`` run (waiting behind the thread's active run) is shown as ``pending``;
- record columns that are not fields (a search's ``_total``, a run's output, a cron's
  ``auth_user``, which gives its ``user_id``) are not shown.

``ThreadState`` and ``StateUpdated`` are built from LangGraph's snapshots, as dicts of these
shapes, by ``app.services.state`` (a unit test holds its empty state to ``ThreadState``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from app.core import jsonable
from app.core.enums import MultitaskStrategy, RunStatus, ThreadStatus

Time = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
"""A ``timestamptz`` column as ``datetime.isoformat()`` writes it."""


class ThreadTTL(msgspec.Struct):
    strategy: Literal["delete", "keep_latest"]
    ttl_minutes: float
    expires_at: Time | None


class Thread(msgspec.Struct):
    thread_id: uuid.UUID | UnsetType = UNSET
    created_at: Time | UnsetType = UNSET
    updated_at: Time | UnsetType = UNSET
    state_updated_at: Time | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    status: ThreadStatus | UnsetType = UNSET
    config: dict[str, Any] | UnsetType = UNSET
    values: Any = UNSET
    interrupts: dict[str, Any] | UnsetType = UNSET
    error: Any = UNSET
    ttl: ThreadTTL | UnsetType = UNSET
    """With ``?include=ttl``, when the thread has one."""
    extracted: dict[str, Any] | UnsetType = UNSET
    """A search's ``extract`` paths, by alias."""


class Run(msgspec.Struct):
    run_id: uuid.UUID | UnsetType = UNSET
    thread_id: uuid.UUID | UnsetType = UNSET
    assistant_id: uuid.UUID | UnsetType = UNSET
    status: RunStatus | UnsetType = UNSET
    multitask_strategy: MultitaskStrategy | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    kwargs: dict[str, Any] | UnsetType = UNSET
    created_at: Time | UnsetType = UNSET
    updated_at: Time | UnsetType = UNSET
    langsmith_session_name: str | UnsetType | None = UNSET
    """Always null (no LangSmith tracing replica of the run), as the reference shows it."""

    def ids(self) -> tuple[uuid.UUID, uuid.UUID]:
        """(thread id, run id) of a run read whole."""
        assert isinstance(self.thread_id, uuid.UUID)
        assert isinstance(self.run_id, uuid.UUID)
        return self.thread_id, self.run_id


class Assistant(msgspec.Struct):
    assistant_id: uuid.UUID | UnsetType = UNSET
    graph_id: str | UnsetType = UNSET
    config: dict[str, Any] | UnsetType = UNSET
    context: dict[str, Any] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    version: int | UnsetType = UNSET
    created_at: Time | UnsetType = UNSET
    updated_at: Time | UnsetType = UNSET


class AssistantVersion(msgspec.Struct):
    """One saved version of an assistant (a version has no ``updated_at``)."""

    assistant_id: uuid.UUID
    version: int
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    name: str
    description: str | None
    created_at: Time


class Cron(msgspec.Struct):
    cron_id: uuid.UUID | UnsetType = UNSET
    assistant_id: uuid.UUID | UnsetType = UNSET
    thread_id: uuid.UUID | UnsetType | None = UNSET
    schedule: str | UnsetType = UNSET
    timezone: str | UnsetType | None = UNSET
    payload: dict[str, Any] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    end_time: Time | UnsetType | None = UNSET
    next_run_date: Time | UnsetType | None = UNSET
    on_run_completed: Literal["delete", "keep"] | UnsetType | None = UNSET
    created_at: Time | UnsetType = UNSET
    updated_at: Time | UnsetType = UNSET
    user_id: str | UnsetType | None = UNSET
    """The ``identity`` of the user who created the cron (its runs run as them)."""


class Item(msgspec.Struct):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    created_at: Time
    updated_at: Time


class SearchItem(Item):
    score: float | None = None
    """The similarity to a search's ``query`` (store.index); null without one."""


class Items(msgspec.Struct):
    items: list[SearchItem]


class Namespaces(msgspec.Struct):
    namespaces: list[list[str]]


class ThreadState(msgspec.Struct):
    values: Any
    next: list[str]
    tasks: list[dict[str, Any]]
    metadata: dict[str, Any] | None
    created_at: Time | None
    checkpoint: dict[str, Any] | None
    parent_checkpoint: dict[str, Any] | None
    interrupts: list[dict[str, Any]]
    checkpoint_id: str | None
    parent_checkpoint_id: str | None


class StateUpdated(msgspec.Struct):
    checkpoint: dict[str, Any]
    configurable: dict[str, Any]
    checkpoint_id: str | None


class Pruned(msgspec.Struct):
    pruned_count: int


class Error(msgspec.Struct):
    """Every error answer (API.md §1)."""

    detail: str


RESPONSES = (
    Thread,
    ThreadTTL,
    Run,
    Assistant,
    AssistantVersion,
    Cron,
    Item,
    SearchItem,
    Items,
    Namespaces,
    ThreadState,
    StateUpdated,
    Pruned,
    Error,
)
"""Every response Struct: each is a component of ``/openapi.json``."""


# --- conversions ------------------------------------------------------------------------
I = TypeVar("I", bound=Item)  # noqa: E741


def _values(
    row: Mapping[str, Any],
    fields: Collection[str],
    times: tuple[str, ...],
    only: Collection[str] | None = None,
) -> dict[str, Any]:
    """The record's columns that are fields (and in ``only`` when given), times written."""
    values = {k: v for k, v in row.items() if k in fields and (only is None or k in only)}
    for key in times:
        value = values.get(key)
        if value is not None:
            values[key] = value.isoformat()
    return values


_THREAD = frozenset(Thread.__struct_fields__)
_RUN = frozenset(Run.__struct_fields__)
_ASSISTANT = frozenset(Assistant.__struct_fields__)
_VERSION = frozenset(AssistantVersion.__struct_fields__)
_CRON = frozenset(Cron.__struct_fields__)


def thread(row: Mapping[str, Any]) -> Thread:
    """A thread record: every column, or those a search's ``select`` read."""
    return Thread(**_values(row, _THREAD, ("created_at", "updated_at", "state_updated_at")))


def thread_ttl(row: Mapping[str, Any]) -> ThreadTTL:
    """A thread's ``ttl_minutes``, ``ttl_strategy`` and ``expires_at`` columns."""
    expires = row["expires_at"]
    return ThreadTTL(
        row["ttl_strategy"], row["ttl_minutes"], expires.isoformat() if expires else None
    )


def run(row: Mapping[str, Any], only: Collection[str] | None = None) -> Run:
    """A run record, with only the fields in ``only`` when given (a list's ``select``).
    ``queued`` is shown as ``pending``: the one place that mapping happens."""
    values = _values(row, _RUN, ("created_at", "updated_at"), only)
    if only is None:
        values["langsmith_session_name"] = None
    if values.get("status") == "queued":
        values["status"] = "pending"
    return Run(**values)


def assistant(row: Mapping[str, Any]) -> Assistant:
    """An assistant record: every column, or those a search's ``select`` read."""
    return Assistant(**_values(row, _ASSISTANT, ("created_at", "updated_at")))


def assistant_version(row: Mapping[str, Any]) -> AssistantVersion:
    return AssistantVersion(**_values(row, _VERSION, ("created_at",)))


def cron(row: Mapping[str, Any], only: Collection[str] | None = None) -> Cron:
    """A cron record, with only the fields in ``only`` when given (a search's ``select``);
    its ``auth_user`` column gives ``user_id``."""
    times = ("end_time", "next_run_date", "created_at", "updated_at")
    values = _values(row, _CRON, times, only)
    if only is None or "user_id" in only:
        user = row.get("auth_user")
        values["user_id"] = user.get("identity") if user else None
    if isinstance(values.get("payload"), dict):
        # As the reference shows it: the whole create body, naming the assistant by id.
        values["payload"] = cron_payload(values["payload"], row)
    return Cron(**values)


def cron_payload(payload: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """A cron's payload as the reference shows it: the create body (schedule, metadata,
    timezone and ``on_run_completed`` as given), the assistant by its id, and the cron's id
    in ``config.configurable``."""
    shown = dict(payload)
    if row.get("assistant_id") is not None:
        shown["assistant_id"] = str(row["assistant_id"])
    for key in ("schedule", "timezone", "on_run_completed"):
        if row.get(key) is not None:
            shown[key] = row[key]
    if row.get("metadata"):
        shown["metadata"] = row["metadata"]
    if row.get("cron_id") is not None:
        config = dict(shown.get("config") or {})
        config["configurable"] = {
            **(config.get("configurable") or {}),
            "cron_id": str(row["cron_id"]),
        }
        shown["config"] = config
    return shown


def item(row: Mapping[str, Any], shape: type[I] = Item) -> I:  # type: ignore[assignment]
    """A store record (``prefix`` is the namespace joined with dots); ``shape=SearchItem``
    for a search's answer (with its ``score`` when it was ranked by a query)."""
    shown = shape(
        row["prefix"].split("."),
        row["key"],
        row["value"],
        row["created_at"].isoformat(),
        row["updated_at"].isoformat(),
    )
    if isinstance(shown, SearchItem) and "score" in row:
        shown.score = float(row["score"])
    return shown


def interrupt(intr: Any) -> dict[str, Any]:
    """A LangGraph ``Interrupt`` as a thread's state and row show it (``response_schema``
    when the graph gave one, as JSON schema)."""
    out = {"id": getattr(intr, "id", None), "value": getattr(intr, "value", intr)}
    schema = getattr(intr, "response_schema", None)
    if schema is not None:
        out["response_schema"] = jsonable.plain(schema)
    return out


def interrupts_by_task(snapshot: Any) -> dict[str, list[dict[str, Any]]]:
    """A state snapshot's pending interrupts by task id (a thread row's ``interrupts``)."""
    return {
        task.id: [interrupt(i) for i in task.interrupts]
        for task in snapshot.tasks
        if task.interrupts
    }
