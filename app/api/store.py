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
from app.core.errors import InvalidInput
from app.services.store import Page
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
    await services(request).store.put(
        acc, namespace, body.key, body.value, body.ttl, index=_index(body.index)
    )


@get("/store/items")
async def get_item(request: Req) -> Response[bytes]:
    q = request.query_params
    key = q.get("key")
    if not key:
        return json({"error": "Key is required"}, status_code=400)
    namespace = _namespace([p for p in (q.get("namespace") or "").split(".") if p != ""])
    acc, namespace = await _door(request, "get", {"namespace": namespace, "key": key})
    store = services(request).store
    refresh = flag(request, "refresh_ttl") if request.query_params.get("refresh_ttl") else None
    return json(await store.get(acc, namespace, key, refresh_ttl=refresh))


def _index(value: Any) -> Any:
    """A put's ``index``: null (the configured fields), false (not searchable by query), or
    a list of JSON paths."""
    if value is None or value is False:
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidInput("index must be false, null or a list of JSON paths")


@delete("/store/items", status_code=204)
async def delete_item(request: Req) -> None:
    body = await decode(request, DeleteItem)
    value = {"namespace": _namespace(body.namespace), "key": body.key}
    acc, namespace = await _door(request, "delete", value)
    await services(request).store.delete(acc, namespace, body.key)


@post("/store/items/search", status_code=200)
async def search_items(request: Req) -> Response[bytes]:
    body = await decode(request, SearchItems)
    page: Page = {"limit": body.limit, "offset": body.offset}
    value = {
        "namespace": _namespace(body.namespace_prefix),
        "filter": body.filter,
        **page,
        "query": body.query,
    }
    acc, namespace = await _door(request, "search", value)
    found = await services(request).store.search(
        acc,
        namespace or [],
        filter=body.filter,
        refresh_ttl=body.refresh_ttl,
        query=body.query,
        **page,
    )
    return json(wire.Items(found))


@post("/store/namespaces", status_code=200)
async def list_namespaces(request: Req) -> Response[bytes]:
    body = await decode(request, ListNamespaces)
    page: Page = {"limit": body.limit, "offset": body.offset}
    value = {
        "namespace": body.prefix,
        "suffix": None if body.suffix is None else tuple(body.suffix),
        "max_depth": body.max_depth,
        **page,
    }
    acc, prefix = await _door(request, "list_namespaces", value)
    found = await services(request).store.namespaces(
        acc, prefix=prefix, suffix=body.suffix, max_depth=body.max_depth, **page
    )
    return json(wire.Namespaces(found))


ROUTES = [put_item, get_item, delete_item, search_items, list_namespaces]
