"""Thread endpoints (API.md §2.2)."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, patch, post

from app.api import schemas
from app.api.body import decode, empty, flag, int_param, json, paged
from app.api.deps import services
from app.auth.door import authorize
from app.core import wire
from app.core.access import Access
from app.core.errors import BadRequest, InvalidInput
from app.core.ids import parse_uuid

Req = Request[Any, Any, Any]


@post("/threads", status_code=200)
async def create_thread(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.ThreadCreate)
    thread_id = parse_uuid(body.thread_id, "thread") if body.thread_id else None
    svc = services(request)
    graph_id = (body.metadata or {}).get("graph_id")
    if body.supersteps and graph_id not in svc.registry:
        raise BadRequest("supersteps need a served graph: pass graph_id.")
    value = {
        "thread_id": thread_id,
        "metadata": dict(body.metadata or {}),
        "if_exists": body.if_exists,
        "ttl": body.ttl,
    }
    acc = await authorize(request, "threads", "create", value)
    thread = await svc.threads.create(
        acc,
        thread_id=thread_id,
        metadata=value.get("metadata"),
        if_exists=body.if_exists,
        ttl=body.ttl,
    )
    if body.supersteps:
        tid = thread.thread_id
        assert isinstance(tid, uuid.UUID)
        try:
            await svc.state.apply_supersteps(acc, tid, body.supersteps)
        except Exception:
            await svc.threads.delete(acc, tid)  # nothing half-written
            raise
        thread = await svc.threads.get(acc, tid)
    return json(thread)


@get("/threads/{thread_id:str}")
async def get_thread(request: Req, thread_id: str) -> Response[bytes]:
    include = {p.strip() for v in request.query_params.getall("include", []) for p in v.split(",")}
    tid = parse_uuid(thread_id, "thread")
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    thread = await services(request).threads.get(acc, tid, include_ttl="ttl" in include)
    return json(thread)


@patch("/threads/{thread_id:str}")
async def patch_thread(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, schemas.ThreadPatch)
    value = {"thread_id": tid, "metadata": body.metadata, "ttl": body.ttl}
    acc = await authorize(request, "threads", "update", value)
    thread = await services(request).threads.update(acc, tid, value.get("metadata"), body.ttl)
    if "return=minimal" in request.headers.get("prefer", ""):
        return empty(204)
    return json(thread)


@delete("/threads/{thread_id:str}", status_code=204)
async def delete_thread(request: Req, thread_id: str) -> None:
    tid = parse_uuid(thread_id, "thread")
    acc = await authorize(request, "threads", "delete", {"thread_id": tid})
    await services(request).threads.delete(acc, tid)


@post("/threads/search", status_code=200)
async def search_threads(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.ThreadSearch)
    for path in (body.extract or {}).values():
        if not path.split(".", 1)[0].partition("[")[0]:
            raise InvalidInput(f"Invalid extract path {path!r}: it must start with a field name")
    acc = await authorize(request, "threads", "search", _search_value(body))
    items, total = await services(request).threads.search(
        acc,
        metadata=body.metadata,
        values=body.values,
        status=body.status,
        ids=body.ids,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
        select=body.select,
    )
    if body.extract:
        for item in items:
            read = {k: v for k, v in msgspec.structs.asdict(item).items() if v is not msgspec.UNSET}
            item.extracted = {alias: _extract(read, path) for alias, path in body.extract.items()}
    return paged(items, total, body.offset)


@post("/threads/count", status_code=200)
async def count_threads(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.ThreadCount)
    acc = await authorize(request, "threads", "search", _search_value(body))
    n = await services(request).threads.count(
        acc, metadata=body.metadata, values=body.values, status=body.status
    )
    return json(n)


@get("/threads/{thread_id:str}/state")
async def get_state(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    state = await services(request).state.get_state(
        await _read(request, tid), tid, subgraphs=flag(request, "subgraphs")
    )
    return json(state)


@get("/threads/{thread_id:str}/state/{checkpoint_id:str}")
async def get_state_at(request: Req, thread_id: str, checkpoint_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    state = await services(request).state.get_state(
        await _read(request, tid),
        tid,
        checkpoint={"checkpoint_id": checkpoint_id},
        subgraphs=flag(request, "subgraphs"),
    )
    return json(state)


@post("/threads/{thread_id:str}/state/checkpoint", status_code=200)
async def post_state_at(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, schemas.StateAtCheckpoint)
    state = await services(request).state.get_state(
        await _read(request, tid),
        tid,
        checkpoint=schemas.checkpoint_dict(body.checkpoint),
        subgraphs=body.subgraphs,
    )
    return json(state)


@post("/threads/{thread_id:str}/history", status_code=200)
async def post_history(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, schemas.HistoryQuery)
    before = body.before
    before_cp = (
        {"checkpoint_id": before} if isinstance(before, str) else schemas.checkpoint_dict(before)
    )
    states = await services(request).state.history(
        await _read(request, tid),
        tid,
        limit=body.limit,
        before=before_cp,
        metadata=body.metadata,
        checkpoint=schemas.checkpoint_dict(body.checkpoint),
    )
    return json(states)


@get("/threads/{thread_id:str}/history")
async def get_history(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    limit = int_param(request, "limit", 1, low=1, high=schemas.MAX_LIMIT)
    before = request.query_params.get("before")
    states = await services(request).state.history(
        await _read(request, tid),
        tid,
        limit=limit,
        before={"checkpoint_id": before} if before else None,
        metadata=None,
        checkpoint=None,
    )
    return json(states)


async def _read(request: Req, thread_id: uuid.UUID) -> Access:
    return await authorize(request, "threads", "read", {"thread_id": thread_id})


def _search_value(body: schemas.ThreadSearch | schemas.ThreadCount) -> dict[str, Any]:
    return {
        "metadata": dict(body.metadata or {}),
        "values": dict(body.values or {}),
        "status": body.status,
        "limit": getattr(body, "limit", None),
        "offset": getattr(body, "offset", None),
        "ids": getattr(body, "ids", None),
    }


def _extract(item: dict[str, Any], path: str) -> Any:
    """Follow ``values.items[0].name``-style paths; missing parts give None."""
    current: Any = item
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if name:
            if not isinstance(current, dict):
                return None
            current = current.get(name)
        if index:
            if not isinstance(current, list):
                return None
            try:
                current = current[int(index)]
            except (ValueError, IndexError):
                return None
    return current


@post("/threads/{thread_id:str}/copy", status_code=200)
async def copy_thread(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    source = await _read(request, tid)
    # The copy is a new thread: the create handler may refuse it, or stamp its metadata.
    value: dict[str, Any] = {"thread_id": None, "metadata": {}, "if_exists": "raise"}
    await authorize(request, "threads", "create", value)
    return json(await services(request).threads.copy(source, tid, value.get("metadata")))


@post("/threads/prune", status_code=200)
async def prune_threads(request: Req) -> Response[bytes]:
    body = await decode(request, schemas.ThreadPrune)
    ids = [parse_uuid(t, "thread") for t in body.thread_ids]
    value = {"thread_ids": ids, "strategy": body.strategy}
    acc = await authorize(request, "threads", "delete", value)
    n = await services(request).threads.prune(acc, ids, body.strategy)
    return json(wire.Pruned(n))


@post("/threads/{thread_id:str}/state", status_code=200)
async def update_state(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, schemas.StateUpdate)
    checkpoint = msgspec.structs.asdict(body.checkpoint) if body.checkpoint else {}
    if body.checkpoint_id:
        checkpoint["checkpoint_id"] = body.checkpoint_id
    value = {"thread_id": tid, "values": body.values, "as_node": body.as_node, "metadata": {}}
    acc = await authorize(request, "threads", "update", value)
    result = await services(request).state.update_state(
        acc, tid, values=body.values, as_node=body.as_node, checkpoint=checkpoint
    )
    return json(result)


@get("/threads/{thread_id:str}/storage")
async def thread_storage(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    return json(await services(request).threads.storage(await _read(request, tid), tid))


ROUTES = [
    thread_storage,
    copy_thread,
    prune_threads,
    update_state,
    create_thread,
    search_threads,
    count_threads,
    get_thread,
    patch_thread,
    delete_thread,
    get_state,
    get_state_at,
    post_state_at,
    post_history,
    get_history,
]
