"""Cron endpoints (API.md §2.4)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post

from app.api import schemas
from app.api.body import decode, json, paged
from app.api.deps import services
from app.api.runs import run_access
from app.auth.door import authorize
from app.core.ids import parse_uuid
from app.core.runs import RunCreate
from app.db.access import ALL, Access

Req = Request[Any, Any, Any]


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
    body = await decode(request, dict[str, Any])
    return json(
        await services(request).crons.create(await _creating(request, tid, body), tid, body)
    )


@post("/runs/crons", status_code=200)
async def create_cron(request: Req) -> Response[bytes]:
    body = await decode(request, dict[str, Any])
    return json(
        await services(request).crons.create(await _creating(request, None, body), None, body)
    )


async def _creating(request: Req, thread_id: uuid.UUID | None, body: dict[str, Any]) -> Access:
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
    try:
        run = msgspec.convert({"assistant_id": str(body.get("assistant_id") or "")}, RunCreate)
    except msgspec.ValidationError:
        run = RunCreate(assistant_id="")
    return await run_access(request, run, thread_id)


@get("/runs/crons/{cron_id:str}")
async def get_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    acc = await authorize(request, "crons", "read", {"cron_id": cid})
    return json(await services(request).crons.get(acc, cid))


@patch("/runs/crons/{cron_id:str}")
async def update_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    changes = await decode(request, dict[str, Any])
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
        runs = await run_access(request, run, None)
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
