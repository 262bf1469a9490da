"""Assistant endpoints (API.md §2.1): CRUD, versions, search, count, graph introspection."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, patch, post

from app.api import schemas
from app.api.body import decode, flag, json, paged
from app.api.deps import services
from app.auth.door import authorize
from app.core.access import Access
from app.core.errors import NotFound
from app.core.ids import parse_uuid, system_assistant_id
from app.services import introspection

Req = Request[Any, Any, Any]


@get("/assistants/{assistant_id:str}")
async def get_assistant(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    return json(await services(request).assistants.get(await _read(request, aid), aid))


@post("/assistants/search", status_code=200)
async def search_assistants(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.AssistantSearch)
    value = {
        "graph_id": body.graph_id,
        "metadata": dict(body.metadata or {}),
        "limit": body.limit,
        "offset": body.offset,
    }
    items, total = await services(request).assistants.search(
        await authorize(request, "assistants", "search", value),
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
    value = {"graph_id": body.graph_id, "metadata": dict(body.metadata or {})}
    n = await services(request).assistants.count(
        await authorize(request, "assistants", "search", value),
        metadata=body.metadata,
        graph_id=body.graph_id,
        name=body.name,
    )
    return json(n)


@post("/assistants", status_code=200)
async def create_assistant(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.AssistantCreate)
    aid = parse_uuid(body.assistant_id, "assistant") if body.assistant_id else None
    value: dict[str, Any] = {
        "assistant_id": aid,
        "graph_id": body.graph_id,
        "config": body.config,
        "context": body.context,
        "metadata": dict(body.metadata or {}),
        "if_exists": body.if_exists,
        "name": body.name,
    }
    acc = await authorize(request, "assistants", "create", value)
    created = await services(request).assistants.create(
        acc,
        graph_id=body.graph_id,
        assistant_id=aid,
        config=value.get("config"),
        context=value.get("context"),
        metadata=value.get("metadata"),
        name=value.get("name"),
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
    value = {"assistant_id": aid, **changes}
    acc = await authorize(request, "assistants", "update", value)
    changes.update({k: v for k, v in value.items() if k in changes or k == "metadata"})
    return json(await services(request).assistants.update(acc, aid, changes))


@delete("/assistants/{assistant_id:str}", status_code=204)
async def delete_assistant(request: Req, assistant_id: str) -> None:
    """Delete the assistant and its versions; its active runs are cancelled, and with
    ``delete_threads=true`` the threads it ran on (metadata.assistant_id) are deleted."""
    aid = parse_uuid(assistant_id, "assistant")
    svc = services(request)
    acc = await authorize(request, "assistants", "delete", {"assistant_id": aid})
    await svc.assistants.get(acc, aid)  # 404 before anything changes
    # Its runs and threads are reached through the caller's access to threads.
    value = {"assistant_id": aid, "action": "interrupt", "metadata": {}}
    cancelling = await authorize(request, "threads", "update", value)
    for thread_id, run_id in await svc.runs.active_for_assistant(cancelling, aid):
        with contextlib.suppress(NotFound):
            await svc.runs.cancel(cancelling, thread_id, run_id, "interrupt")
    if flag(request, "delete_threads"):
        deleting = await authorize(request, "threads", "delete", {"assistant_id": aid})
        for thread_id in await svc.threads.ids_for_assistant(deleting, aid):
            with contextlib.suppress(NotFound):
                await svc.threads.delete(deleting, thread_id)
    await svc.assistants.delete(acc, aid)


@post("/assistants/{assistant_id:str}/versions", status_code=200)
async def assistant_versions(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    body = await decode(request, schemas.AssistantVersions)
    found = await services(request).assistants.versions(
        await _read(request, aid), aid, metadata=body.metadata, limit=body.limit, offset=body.offset
    )
    return json(found)


@post("/assistants/{assistant_id:str}/latest", status_code=200)
async def set_latest_version(request: Req, assistant_id: str) -> Response[bytes]:
    aid = parse_uuid(assistant_id, "assistant")
    body = await decode(request, schemas.AssistantLatest)
    value = {"assistant_id": aid, "version": body.version, "metadata": {}}
    acc = await authorize(request, "assistants", "update", value)
    return json(await services(request).assistants.set_latest(acc, aid, body.version))


async def _read(request: Req, assistant_id: uuid.UUID) -> Access:
    return await authorize(request, "assistants", "read", {"assistant_id": assistant_id})


async def _graph(request: Req, assistant_id: str) -> tuple[uuid.UUID, Any]:
    """The assistant's graph; a graph id names its system assistant (as for runs)."""
    if assistant_id in services(request).registry:
        aid = system_assistant_id(assistant_id)
    else:
        aid = parse_uuid(assistant_id, "assistant")
    return aid, await services(request).assistants.graph_of(await _read(request, aid), aid)


@get("/assistants/{assistant_id:str}/graph")
async def assistant_graph(request: Req, assistant_id: str) -> Response[bytes]:
    xray = introspection.parse_xray(request.query_params.get("xray"))
    _, graph = await _graph(request, assistant_id)
    return json(introspection.drawing(graph, xray))


@get("/assistants/{assistant_id:str}/schemas")
async def assistant_schemas(request: Req, assistant_id: str) -> Response[bytes]:
    aid, graph = await _graph(request, assistant_id)
    assistant = await services(request).assistants.get(await _read(request, aid), aid)
    return json({"graph_id": assistant.graph_id, **introspection.schemas(graph)})


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
