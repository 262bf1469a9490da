"""Cron endpoints (API.md §2.4)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post
from msgspec import UNSET, UnsetType

from app.api import schemas
from app.api.body import decode, json, paged
from app.api.deps import services
from app.auth.door import authorize, run_access
from app.core.access import ALL, Access, Caller
from app.core.ids import parse_uuid
from app.core.runs import RunCreate

Req = Request[Any, Any, Any]


MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
Interrupts = Literal["*"] | list[str]
Durability = Literal["sync", "async", "exit"]


class CronCreate(msgspec.Struct, kw_only=True):
    """The cron and the run body each tick creates (checked again as a RunCreate)."""

    assistant_id: str
    schedule: Annotated[str, msgspec.Meta(examples=["*/5 * * * *"])]
    input: Any = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Interrupts | None = None
    interrupt_after: Interrupts | None = None
    multitask_strategy: MultitaskStrategy | None = None
    end_time: str | None = None
    enabled: bool | None = None
    timezone: str | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Durability | None = None
    checkpoint_during: bool | None = None


class CronUpdate(msgspec.Struct, kw_only=True):
    """What a PATCH changes: the fields it names (``end_time: null`` clears the end time,
    a null run body field removes it from the body)."""

    assistant_id: str | UnsetType = UNSET
    schedule: str | UnsetType = UNSET
    input: Any = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    config: dict[str, Any] | UnsetType | None = UNSET
    context: dict[str, Any] | UnsetType | None = UNSET
    webhook: str | UnsetType | None = UNSET
    interrupt_before: Interrupts | UnsetType | None = UNSET
    interrupt_after: Interrupts | UnsetType | None = UNSET
    multitask_strategy: MultitaskStrategy | UnsetType | None = UNSET
    end_time: str | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET
    timezone: str | UnsetType | None = UNSET
    on_run_completed: Literal["delete", "keep"] | UnsetType | None = UNSET
    stream_mode: str | list[str] | UnsetType | None = UNSET
    stream_subgraphs: bool | UnsetType | None = UNSET
    stream_resumable: bool | UnsetType | None = UNSET
    durability: Durability | UnsetType | None = UNSET
    checkpoint_during: bool | UnsetType | None = UNSET


class CronSearch(msgspec.Struct, kw_only=True):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: schemas.Limit = 10
    offset: schemas.Offset = 0
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


class CronCount(msgspec.Struct, kw_only=True):
    assistant_id: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None


@post("/threads/{thread_id:str}/runs/crons", status_code=200)
async def create_thread_cron(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = msgspec.structs.asdict(await decode(request, CronCreate))
    return json(
        await services(request).crons.create(*await _creating(request, tid, body), tid, body)
    )


@post("/runs/crons", status_code=200)
async def create_cron(request: Req) -> Response[bytes]:
    body = msgspec.structs.asdict(await decode(request, CronCreate))
    return json(
        await services(request).crons.create(*await _creating(request, None, body), None, body)
    )


async def _creating(
    request: Req, thread_id: uuid.UUID | None, body: dict[str, Any]
) -> tuple[Access, Caller]:
    """A cron create passes two doors: ``crons.create`` (whose handler may add to the cron's
    metadata) and, for the runs it will start, ``threads.create_run``."""
    value = {
        "payload": body,
        "schedule": body.get("schedule"),
        "cron_id": None,
        "thread_id": thread_id,
        "user_id": None,
        "end_time": body.get("end_time"),
        "metadata": dict(body.get("metadata") or {}),
    }
    await authorize(request, "crons", "create", value)
    body["metadata"] = value.get("metadata") or {}
    return await run_access(request, RunCreate(assistant_id=body["assistant_id"]), thread_id)


@get("/runs/crons/{cron_id:str}")
async def get_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    acc = await authorize(request, "crons", "read", {"cron_id": cid})
    return json(await services(request).crons.get(acc, cid))


@patch("/runs/crons/{cron_id:str}")
async def update_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    body = await decode(request, CronUpdate)
    changes = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
    value = {"cron_id": cid, "payload": changes, "schedule": changes.get("schedule")}
    new_metadata = "metadata" in changes and isinstance(changes["metadata"], dict | None)
    if new_metadata:
        value["metadata"] = dict(changes["metadata"] or {})
    acc = await authorize(request, "crons", "update", value)
    if new_metadata:  # as the handler left it (an owner it stamps stays)
        changes["metadata"] = value.get("metadata") or {}
    runs = ALL
    if "assistant_id" in changes:  # the new assistant must be one the caller may run
        run = RunCreate(assistant_id=str(changes["assistant_id"]))
        runs, _ = await run_access(request, run, None)
    return json(await services(request).crons.update(acc, cid, changes, runs))


@delete("/runs/crons/{cron_id:str}", status_code=204)
async def delete_cron(request: Req, cron_id: str) -> None:
    cid = parse_uuid(cron_id, "cron")
    acc = await authorize(request, "crons", "delete", {"cron_id": cid})
    await services(request).crons.delete(acc, cid)


@post("/runs/crons/search", status_code=200)
async def search_crons(request: Req) -> Response[bytes]:
    body = await decode(request, CronSearch)
    thread_id = parse_uuid(body.thread_id, "thread") if body.thread_id else None
    items, total = await services(request).crons.search(
        await _searching(request, body.assistant_id, thread_id, body.limit, body.offset),
        assistant_id=body.assistant_id,
        thread_id=thread_id,
        enabled=body.enabled,
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        select=body.select,
    )
    return paged(items, total, body.offset)


@post("/runs/crons/count", status_code=200)
async def count_crons(request: Req) -> Response[bytes]:
    body = await decode(request, CronCount)
    thread_id = parse_uuid(body.thread_id, "thread") if body.thread_id else None
    n = await services(request).crons.count(
        await _searching(request, body.assistant_id, thread_id, None, None),
        assistant_id=body.assistant_id,
        thread_id=thread_id,
        metadata=body.metadata,
    )
    return json(n)


async def _searching(
    request: Req,
    assistant_id: str | None,
    thread_id: uuid.UUID | None,
    limit: int | None,
    offset: int | None,
) -> Access:
    value = {"assistant_id": assistant_id, "thread_id": thread_id, "limit": limit, "offset": offset}
    return await authorize(request, "crons", "search", value)


ROUTES = [
    create_thread_cron,
    create_cron,
    search_crons,
    count_crons,
    get_cron,
    update_cron,
    delete_cron,
]
