"""Assistant endpoints (API.md §2.1): CRUD, versions, search, count, graph introspection."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, patch, post

from app.api import schemas
from app.api.body import decode, flag, json, paged
from app.api.deps import access, services
from app.core.errors import NotFound
from app.core.ids import parse_uuid
from app.services import introspection

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


@post("/assistants", status_code=200)
async def create_assistant(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.AssistantCreate)
    aid = parse_uuid(body.assistant_id, "assistant") if body.assistant_id else None
    created = await services(request).assistants.create(
        access(request),
        graph_id=body.graph_id,
        assistant_id=aid,
        config=body.config,
        context=body.context,
        metadata=body.metadata,
        name=body.name,
        description=body.description,
        if_exists=body.if_exists,
    )
    return json(created)


@patch("/assistants/{assistant_id:str}")
async def update_assistant(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    body = await decode(request, schemas.AssistantPatch)
    changes = msgspec.structs.asdict(body)
    changes = {k: v for k, v in changes.items() if v is not msgspec.UNSET}
    return json(await services(request).assistants.update(access(request), aid, changes))


@delete("/assistants/{assistant_id:str}", status_code=204)
async def delete_assistant(request: Req, assistant_id: str) -> None:
    """Delete the assistant and its versions; its active runs are cancelled, and with
    ``delete_threads=true`` the threads it ran on (metadata.assistant_id) are deleted."""
    aid = parse_uuid(assistant_id, "assistant")
    svc, acc = services(request), access(request)
    await svc.assistants.get(acc, aid)  # 404 before anything changes
    for thread_id, run_id in await svc.runs.active_for_assistant(acc, aid):
        with contextlib.suppress(NotFound):
            await svc.runs.cancel(acc, thread_id, run_id, "interrupt")
    if flag(request, "delete_threads"):
        for thread_id in await svc.threads.ids_for_assistant(acc, aid):
            with contextlib.suppress(NotFound):
                await svc.threads.delete(acc, thread_id)
    await svc.assistants.delete(acc, aid)


@post("/assistants/{assistant_id:str}/versions", status_code=200)
async def assistant_versions(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    body = await decode(request, schemas.AssistantVersions)
    found = await services(request).assistants.versions(
        access(request), aid, metadata=body.metadata, limit=body.limit, offset=body.offset
    )
    return json(found)


@post("/assistants/{assistant_id:str}/latest", status_code=200)
async def set_latest_version(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    body = await decode(request, schemas.AssistantLatest)
    return json(await services(request).assistants.set_latest(access(request), aid, body.version))


async def _graph(request: Req, assistant_id: str) -> tuple[uuid.UUID, Any]:
    aid = parse_uuid(assistant_id, "assistant")
    return aid, await services(request).assistants.graph_of(access(request), aid)


@get("/assistants/{assistant_id:str}/graph")
async def assistant_graph(request: Req, assistant_id: str) -> Response[bytes]:
    xray = introspection.parse_xray(request.query_params.get("xray"))
    _, graph = await _graph(request, assistant_id)
    return json(introspection.drawing(graph, xray))


@get("/assistants/{assistant_id:str}/schemas")
async def assistant_schemas(request: Req, assistant_id: str) -> Response[bytes]:
    aid, graph = await _graph(request, assistant_id)
    assistant = await services(request).assistants.get(access(request), aid)
    return json({"graph_id": assistant["graph_id"], **introspection.schemas(graph)})


@get(
    [
        "/assistants/{assistant_id:str}/subgraphs",
        "/assistants/{assistant_id:str}/subgraphs/{namespace:str}",
    ]
)
async def assistant_subgraphs(
    request: Req, assistant_id: str, namespace: str | None = None
) -> Response[bytes]:
    _, graph = await _graph(request, assistant_id)
    recurse = flag(request, "recurse")
    return json(introspection.subgraphs(graph, namespace, recurse))


ROUTES = [
    search_assistants,
    count_assistants,
    create_assistant,
    get_assistant,
    update_assistant,
    delete_assistant,
    assistant_versions,
    set_latest_version,
    assistant_graph,
    assistant_schemas,
    assistant_subgraphs,
]
