"""Wire schemas: request bodies as msgspec Structs named after the SDK's types.

Unknown fields are accepted (the reference server's schemas are open).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

MAX_LIMIT = 10_000
MAX_OFFSET = 2**63 - 1  # SQL OFFSET takes a bigint
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET)]
Int32 = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]  # a positive integer column


class ThreadCreate(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    ttl: Any = None
    supersteps: list[dict[str, Any]] | None = None


class ThreadPatch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    ttl: Any = None


class ThreadSearch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None
    extract: dict[str, str] | None = None


class ThreadCount(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None


class Checkpoint(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    checkpoint_ns: str | None = None
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateAtCheckpoint(msgspec.Struct, kw_only=True):
    checkpoint: Checkpoint
    subgraphs: bool = False
    select: Any = None


class HistoryQuery(msgspec.Struct, kw_only=True):
    limit: Limit = 10
    before: str | Checkpoint | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None
    select: Any = None


class AssistantSearch(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class AssistantCount(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    graph_id: str | None = None
    name: str | None = None


def checkpoint_dict(cp: Checkpoint | None) -> dict[str, Any] | None:
    if cp is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(cp).items() if v is not None}


class AssistantCreate(msgspec.Struct, kw_only=True):
    graph_id: str
    assistant_id: str | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] = "raise"
    name: str | None = None
    description: str | None = None


class AssistantPatch(msgspec.Struct, kw_only=True, omit_defaults=True):
    graph_id: str | msgspec.UnsetType = msgspec.UNSET
    config: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    context: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    metadata: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType | None = msgspec.UNSET


class AssistantVersions(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0


class AssistantLatest(msgspec.Struct, kw_only=True):
    version: Int32


class ThreadPrune(msgspec.Struct, kw_only=True):
    thread_ids: list[str]
    strategy: Literal["delete", "keep_latest"] = "delete"


class StateUpdate(msgspec.Struct, kw_only=True):
    values: Any = None
    as_node: str | None = None
    checkpoint_id: str | None = None
    checkpoint: Checkpoint | None = None
