"""Store endpoints (API.md §2.5, §9): items by namespace and key, search, namespaces."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post, put

from app.api.body import decode, flag, json
from app.api.deps import services
from app.api.schemas import Int32, Limit, Offset
from app.auth.door import authorize
from app.core import wire
from app.core.errors import InvalidInput, NotFound
from app.db import store as rows
from app.services.threads import MAX_TTL_MINUTES

Req = Request[Any, Any, Any]


class PutItem(msgspec.Struct, kw_only=True):
    namespace: list[str]
    key: str
    value: dict[str, Any]
    index: Any = None
    ttl: float | None = None


class DeleteItem(msgspec.Struct, kw_only=True):
    namespace: list[str]
    key: str


class SearchItems(msgspec.Struct, kw_only=True):
    namespace_prefix: list[str] = []
    filter: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = None


class ListNamespaces(msgspec.Struct, kw_only=True):
    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: Int32 | None = None
    limit: Limit = 100
    offset: Offset = 0


def _namespace(labels: list[str]) -> list[str]:
    for label in labels:
        if not label or "." in label:
            raise InvalidInput(
                f"Invalid namespace label {label!r}: labels must be non-empty and contain no '.'"
            )
    return labels


async def _door(request: Req, action: str, value: dict[str, Any]) -> Any:
    """``store`` auth handlers see the namespace as a tuple and may rewrite it (to put
    each user's items under their own prefix); returns (access, namespace as a list)."""
    ns = value.get("namespace")
    if ns is not None:
        value["namespace"] = tuple(ns)
    acc = await authorize(request, "store", action, value)
    ns = value.get("namespace")
    return acc, (None if ns is None else _namespace([str(label) for label in ns]))


@put("/store/items", status_code=204)
async def put_item(request: Req) -> None:
    body = await decode(request, PutItem)
    if body.ttl is not None and not 0 < body.ttl <= MAX_TTL_MINUTES:
        raise InvalidInput("ttl must be a positive number of minutes, at most 100 years")
    value = {
        "namespace": _namespace(body.namespace),
        "key": body.key,
        "value": body.value,
        "index": body.index,
    }
    acc, namespace = await _door(request, "put", value)
    async with services(request).pool.acquire() as conn:
        if not await rows.put(conn, namespace, body.key, body.value, body.ttl, acc):
            raise NotFound("Item not found")


@get("/store/items")
async def get_item(request: Req) -> Response[bytes]:
    q = request.query_params
    key = q.get("key")
    if not key:
        return json({"error": "Key is required"}, status_code=400)
    namespace = _namespace([p for p in (q.get("namespace") or "").split(".") if p != ""])
    acc, namespace = await _door(request, "get", {"namespace": namespace, "key": key})
    async with services(request).pool.acquire() as conn:
        row = await rows.get(
            conn, namespace, key, refresh_ttl=flag(request, "refresh_ttl"), access=acc
        )
    return json(None if row is None else wire.item(row))


@delete("/store/items", status_code=204)
async def delete_item(request: Req) -> None:
    body = await decode(request, DeleteItem)
    value = {"namespace": _namespace(body.namespace), "key": body.key}
    acc, namespace = await _door(request, "delete", value)
    async with services(request).pool.acquire() as conn:
        await rows.delete(conn, namespace, body.key, acc)


@post("/store/items/search", status_code=200)
async def search_items(request: Req) -> Response[bytes]:
    body = await decode(request, SearchItems)
    if body.query:
        raise InvalidInput("Semantic search (query) needs a store index; none is configured.")
    value = {
        "namespace": _namespace(body.namespace_prefix),
        "filter": body.filter,
        "limit": body.limit,
        "offset": body.offset,
        "query": body.query,
    }
    acc, namespace = await _door(request, "search", value)
    async with services(request).pool.acquire() as conn:
        found = await rows.search(
            conn,
            namespace or [],
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
            refresh_ttl=bool(body.refresh_ttl),
            access=acc,
        )
    return json(wire.Items([wire.item(r, wire.SearchItem) for r in found]))


@post("/store/namespaces", status_code=200)
async def list_namespaces(request: Req) -> Response[bytes]:
    body = await decode(request, ListNamespaces)
    value = {
        "namespace": body.prefix,
        "suffix": None if body.suffix is None else tuple(body.suffix),
        "max_depth": body.max_depth,
        "limit": body.limit,
        "offset": body.offset,
    }
    acc, prefix = await _door(request, "list_namespaces", value)
    async with services(request).pool.acquire() as conn:
        found = await rows.namespaces(
            conn,
            prefix=prefix,
            suffix=body.suffix,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
            access=acc,
        )
    return json(wire.Namespaces(found))


ROUTES = [put_item, get_item, delete_item, search_items, list_namespaces]
