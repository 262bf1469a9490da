"""Assistant endpoints (API.md §2.1): get, search, count."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from app.api import schemas
from app.api.body import decode, json, paged
from app.api.deps import access, services
from app.core.ids import parse_uuid

Req = Request[Any, Any, Any]


@get("/assistants/{assistant_id:str}")
async def get_assistant(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    return json(await services(request).assistants.get(access(request), aid))


@post("/assistants/search", status_code=200)
async def search_assistants(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.AssistantSearch)
    items, total = await services(request).assistants.search(
        access(request),
        metadata=body.metadata,
        graph_id=body.graph_id,
        name=body.name,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        select=body.select,
    )
    return paged(items, total, body.offset)


@post("/assistants/count", status_code=200)
async def count_assistants(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.AssistantCount)
    n = await services(request).assistants.count(
        access(request), metadata=body.metadata, graph_id=body.graph_id, name=body.name
    )
    return json(n)


ROUTES = [search_assistants, count_assistants, get_assistant]
