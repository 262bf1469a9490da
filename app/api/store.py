"""Store endpoints (API.md §2.5, §9): items by namespace and key, search, namespaces."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post, put

from app.api.body import decode, flag, json
from app.api.deps import services
from app.api.schemas import Int32, Limit, Offset
from app.core.errors import InvalidInput
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


def _item(row: Any, *, score: bool = False) -> dict[str, Any]:
    out = {
        "namespace": row["prefix"].split("."),
        "key": row["key"],
        "value": row["value"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }
    if score:
        out["score"] = None
    return out


@put("/store/items", status_code=204)
async def put_item(request: Req) -> None:
    body = await decode(request, PutItem)
    if body.ttl is not None and not 0 < body.ttl <= MAX_TTL_MINUTES:
        raise InvalidInput("ttl must be a positive number of minutes, at most 100 years")
    async with services(request).pool.acquire() as conn:
        await rows.put(conn, _namespace(body.namespace), body.key, body.value, body.ttl)


@get("/store/items")
async def get_item(request: Req) -> Response[bytes]:
    q = request.query_params
    key = q.get("key")
    if not key:
        return json({"error": "Key is required"}, status_code=400)
    namespace = _namespace([p for p in (q.get("namespace") or "").split(".") if p != ""])
    async with services(request).pool.acquire() as conn:
        row = await rows.get(conn, namespace, key, refresh_ttl=flag(request, "refresh_ttl"))
    return json(None if row is None else _item(row))


@delete("/store/items", status_code=204)
async def delete_item(request: Req) -> None:
    body = await decode(request, DeleteItem)
    async with services(request).pool.acquire() as conn:
        await rows.delete(conn, _namespace(body.namespace), body.key)


@post("/store/items/search", status_code=200)
async def search_items(request: Req) -> Response[bytes]:
    body = await decode(request, SearchItems)
    if body.query:
        raise InvalidInput("Semantic search (query) needs a store index; none is configured.")
    async with services(request).pool.acquire() as conn:
        found = await rows.search(
            conn,
            _namespace(body.namespace_prefix),
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
            refresh_ttl=bool(body.refresh_ttl),
        )
    return json({"items": [_item(r, score=True) for r in found]})


@post("/store/namespaces", status_code=200)
async def list_namespaces(request: Req) -> Response[bytes]:
    body = await decode(request, ListNamespaces)
    async with services(request).pool.acquire() as conn:
        found = await rows.namespaces(
            conn,
            prefix=body.prefix,
            suffix=body.suffix,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
        )
    return json({"namespaces": found})


ROUTES = [put_item, get_item, delete_item, search_items, list_namespaces]
