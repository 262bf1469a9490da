"""Cron endpoints (API.md §2.4)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post

from app.api import schemas
from app.api.body import decode, json, paged
from app.api.deps import access, services
from app.core.ids import parse_uuid

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
    return json(await services(request).crons.create(access(request), tid, body))


@post("/runs/crons", status_code=200)
async def create_cron(request: Req) -> Response[bytes]:
    body = await decode(request, dict[str, Any])
    return json(await services(request).crons.create(access(request), None, body))


@get("/runs/crons/{cron_id:str}")
async def get_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    return json(await services(request).crons.get(access(request), cid))


@patch("/runs/crons/{cron_id:str}")
async def update_cron(request: Req, cron_id: str) -> Response[bytes]:
    cid = parse_uuid(cron_id, "cron")
    changes = await decode(request, dict[str, Any])
    return json(await services(request).crons.update(access(request), cid, changes))


@delete("/runs/crons/{cron_id:str}", status_code=204)
async def delete_cron(request: Req, cron_id: str) -> None:
    await services(request).crons.delete(access(request), parse_uuid(cron_id, "cron"))


@post("/runs/crons/search", status_code=200)
async def search_crons(request: Req) -> Response[bytes]:
    body = await decode(request, CronSearch)
    items, total = await services(request).crons.search(
        access(request),
        assistant_id=body.assistant_id,
        thread_id=parse_uuid(body.thread_id, "thread") if body.thread_id else None,
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
    n = await services(request).crons.count(
        access(request),
        assistant_id=body.assistant_id,
        thread_id=parse_uuid(body.thread_id, "thread") if body.thread_id else None,
        metadata=body.metadata,
    )
    return json(n)


ROUTES = [
    create_thread_cron,
    create_cron,
    search_crons,
    count_crons,
    get_cron,
    update_cron,
    delete_cron,
]
