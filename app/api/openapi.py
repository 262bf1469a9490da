"""``GET /openapi.json`` and ``GET /docs``: every operation this server answers.

The paths come from the application's own route table, so a route cannot be served without
being listed; request bodies come from the msgspec structs the controllers decode, response
bodies from the structs they serve (``app.core.wire``: every one of them is a component),
and query parameters and headers from ``PARAMETERS``, by handler name. The served graph ids are the examples of the body fields
that name a graph, so that a client (or a fuzzer) reading the document can create runs.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.response import Response as HTMLResponse

from app.api import crons, mcp, protocol_v2, runs, schemas, store
from app.api.assets import SWAGGER, SWAGGER_ROUTES, page
from app.api.body import json
from app.api.deps import services
from app.core import wire
from app.core.enums import RunStatus
from app.core.runs import RunCreate
from app.core.wire import Assistant, Cron, Run, Thread, ThreadState

Req = Request[Any, Any, Any]


REQUESTS: dict[str, Any] = {
    "create_thread": schemas.ThreadCreate,
    "patch_thread": schemas.ThreadPatch,
    "search_threads": schemas.ThreadSearch,
    "count_threads": schemas.ThreadCount,
    "post_state_at": schemas.StateAtCheckpoint,
    "post_history": schemas.HistoryQuery,
    "prune_threads": schemas.ThreadPrune,
    "update_state": schemas.StateUpdate,
    "create_assistant": schemas.AssistantCreate,
    "update_assistant": schemas.AssistantPatch,
    "search_assistants": schemas.AssistantSearch,
    "count_assistants": schemas.AssistantCount,
    "assistant_versions": schemas.AssistantVersions,
    "set_latest_version": schemas.AssistantLatest,
    "create_run": RunCreate,
    "create_stateless_run": RunCreate,
    "wait_run": RunCreate,
    "wait_stateless_run": RunCreate,
    "stream_run": RunCreate,
    "stream_stateless_run": RunCreate,
    "create_batch": list[RunCreate],
    "cancel_many": runs.CancelMany,
    "create_thread_cron": crons.CronCreate,
    "create_cron": crons.CronCreate,
    "update_cron": crons.CronUpdate,
    "search_crons": crons.CronSearch,
    "count_crons": crons.CronCount,
    "put_item": store.PutItem,
    "delete_item": store.DeleteItem,
    "search_items": store.SearchItems,
    "list_namespaces": store.ListNamespaces,
    "mcp_post": mcp.JsonRpcRequest,
    "a2a_post": mcp.JsonRpcRequest,
    "thread_command": protocol_v2.ProtocolCommand,
    "thread_stream_events": protocol_v2.StreamEvents,
}

RESPONSES: dict[str, Any] = {
    "create_thread": Thread,
    "get_thread": Thread,
    "patch_thread": Thread,
    "copy_thread": Thread,
    "search_threads": list[Thread],
    "count_threads": int,
    "get_state": ThreadState,
    "get_state_at": ThreadState,
    "post_state_at": ThreadState,
    "post_history": list[ThreadState],
    "get_history": list[ThreadState],
    "update_state": wire.StateUpdated,
    "prune_threads": wire.Pruned,
    "create_assistant": Assistant,
    "get_assistant": Assistant,
    "update_assistant": Assistant,
    "set_latest_version": Assistant,
    "search_assistants": list[Assistant],
    "assistant_versions": list[wire.AssistantVersion],
    "count_assistants": int,
    "create_run": Run,
    "create_stateless_run": Run,
    "get_run": Run,
    "list_runs": list[Run],
    "create_batch": list[Run],
    "create_thread_cron": Cron,
    "create_cron": Cron,
    "get_cron": Cron,
    "update_cron": Cron,
    "search_crons": list[Cron],
    "count_crons": int,
    "metrics": dict[str, Any],
    "get_item": wire.Item | None,
    "search_items": wire.Items,
    "list_namespaces": wire.Namespaces,
    "console_thread_runs": list[dict[str, Any]],
    "console_run": dict[str, Any],
    "console_queue": dict[str, Any],
}

NO_BODY = frozenset({"copy_thread", "cancel_run"})
"""POST operations that take no request body."""

STREAMING = frozenset(
    {
        "stream_run",
        "stream_stateless_run",
        "join_run_stream",
        "join_stateless_run_stream",
        "thread_stream",
        "thread_stream_events",
    }
)

PAGES = frozenset({"docs", "console_page"})
"""Operations that answer an HTML page."""

_PARAM = re.compile(r"{(\w+)}")
SHOWN_PATHS = {"/mcp": "/mcp/"}
"""Paths listed as the reference server lists them (both spellings are served)."""


def _param(name: str, schema: dict[str, Any], where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema}


_FLAG = {"type": "boolean"}
_LAST_EVENT_ID = _param("Last-Event-ID", {"type": "string"}, "header")
_JOIN = [
    _param("stream_mode", {"type": "array", "items": {"type": "string"}}),
    _param("cancel_on_disconnect", _FLAG),
    _LAST_EVENT_ID,
]
_ACTION = _param("action", {"type": "string", "enum": ["interrupt", "rollback"]})

PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "get_thread": [_param("include", {"type": "string", "examples": ["ttl"]})],
    "patch_thread": [
        _param("Prefer", {"type": "string", "examples": ["return=minimal"]}, "header")
    ],
    "get_state": [_param("subgraphs", _FLAG)],
    "get_state_at": [_param("subgraphs", _FLAG)],
    "get_history": [
        _param("limit", {"type": "integer", "minimum": 1, "maximum": schemas.MAX_LIMIT}),
        _param("before", {"type": "string"}),
    ],
    "list_runs": [
        _param("limit", {"type": "integer", "minimum": 1, "maximum": schemas.MAX_LIMIT}),
        _param("offset", {"type": "integer", "minimum": 0, "maximum": schemas.MAX_OFFSET}),
        _param(
            "status",
            {"type": "string", "enum": list(get_args(RunStatus))},
        ),
        _param("select", {"type": "array", "items": {"type": "string"}}),
    ],
    "join_run": [_param("cancel_on_disconnect", _FLAG)],
    "cancel_run": [_param("wait", _FLAG), _ACTION],
    "cancel_many": [_ACTION],
    "join_run_stream": _JOIN,
    "join_stateless_run_stream": _JOIN,
    "thread_stream": [
        _param(
            "stream_modes",
            {
                "type": "array",
                "items": {"type": "string", "enum": ["run_modes", "lifecycle", "state_update"]},
            },
        ),
        _LAST_EVENT_ID,
    ],
    "delete_assistant": [_param("delete_threads", _FLAG)],
    "assistant_graph": [
        _param("xray", {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": 1}]})
    ],
    "assistant_subgraphs": [_param("recurse", _FLAG)],
    "get_item": [
        _param("namespace", {"type": "string", "description": "labels joined with '.'"}),
        _param("key", {"type": "string"}),
        _param("refresh_ttl", _FLAG),
    ],
    "ok": [_param("check_db", _FLAG)],
    "agent_card": [_param("assistant_id", {"type": "string"})],
    "metrics": [_param("format", {"type": "string", "enum": ["prometheus", "json"]})],
}
"""Query parameters and headers, by handler name."""


# Body fields that name a graph (or its assistant), given the served graph ids as examples.
GRAPH_FIELDS = (
    ("RunCreate", "assistant_id"),
    ("CronCreate", "assistant_id"),
    ("AssistantCreate", "graph_id"),
)


def build(app: Litestar, graph_ids: list[str] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes; ``graph_ids`` (the served graphs) are
    the examples of the body fields that name a graph."""
    types = sorted({*REQUESTS.values(), *RESPONSES.values(), *wire.RESPONSES}, key=repr)
    _, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    ref_schemas = dict(zip(types, _, strict=True))
    for struct, field in GRAPH_FIELDS if graph_ids else ():
        components[struct]["properties"][field]["examples"] = graph_ids
    paths: dict[str, Any] = {}
    for route in app.routes:
        path = getattr(route, "path_format", route.path)
        path = SHOWN_PATHS.get(path, path)
        for handler in getattr(route, "route_handlers", []):
            if not handler.include_in_schema:
                continue
            for method in sorted(handler.http_methods):
                if method in ("OPTIONS", "HEAD"):
                    continue
                paths.setdefault(path, {})[method.lower()] = _operation(handler, path, ref_schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Turnstile: the LangGraph Agent Server API",
            "version": "0.1.0",
            "description": "Assistants, threads, runs, streaming, crons and the store, "
            "served on PostgreSQL. See the README for what each part guarantees.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components},
    }


def _operation(handler: Any, path: str, refs: dict[Any, Any]) -> dict[str, Any]:
    name = handler.handler_name
    doc = (handler.fn.__doc__ or "").strip().splitlines()
    op: dict[str, Any] = {
        "operationId": name,
        "summary": doc[0] if doc else name.replace("_", " ").capitalize(),
        "tags": [path.strip("/").split("/")[0] or "meta"],
    }
    params = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if p.endswith("_id")
            else {"type": "string"},
        }
        for p in _PARAM.findall(path)
    ]
    params += PARAMETERS.get(name, [])
    if params:
        op["parameters"] = params
    if name in REQUESTS:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[REQUESTS[name]]}},
        }
    status = str(handler.status_code)
    if name in STREAMING:
        ok: dict[str, Any] = {
            "description": "Server-sent events (API.md §6)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    elif name in PAGES:
        ok = {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}
    elif status == "204" or status == "202":
        ok = {"description": "No content"}
    else:
        schema = refs[RESPONSES[name]] if name in RESPONSES else {}
        ok = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    error = {"content": {"application/json": {"schema": refs[wire.Error]}}}
    op["responses"] = {
        status: ok,
        "404": {"description": "Not found", **error},
        "422": {"description": "Invalid input", **error},
    }
    return op


@get("/openapi.json", include_in_schema=False, opt={"public": True})
async def openapi_json(request: Req) -> Response[bytes]:
    doc = build(request.app, services(request).registry.ids)
    custom = request.app.state.get("custom_openapi")
    if custom is not None:
        merge_custom(doc, custom())
    security = request.app.state.get("auth_openapi")
    if security:
        apply_security(doc, security)
    return json(doc)


def merge_custom(doc: dict[str, Any], custom: dict[str, Any]) -> None:
    """The custom app's own document (``http.app``, a FastAPI app's ``openapi()``): its
    paths (which shadow ours, as its routes do) and components."""
    doc["paths"].update(custom.get("paths") or {})
    for kind, items in (custom.get("components") or {}).items():
        doc.setdefault("components", {}).setdefault(kind, {}).update(items)


def apply_security(doc: dict[str, Any], security: dict[str, Any]) -> None:
    """``auth.openapi``: the security schemes, the document's default requirement, and
    per-path, per-method overrides (``{path: {method: [requirement, ...]}}``)."""
    schemes = security.get("securitySchemes")
    if schemes:
        doc.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
    if "security" in security:
        doc["security"] = security["security"]
    for path, methods in (security.get("paths") or {}).items():
        for method, requirement in (methods or {}).items():
            operation = doc["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                operation["security"] = requirement


DOCS = """<!doctype html>
<html><head><meta charset="utf-8"><title>Turnstile API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="@root@/docs/assets/swagger-ui.css?v=@css@"></head>
<body><div id="ui" data-spec="@root@/openapi.json"></div>
<script src="@root@/docs/assets/swagger-ui-bundle.js?v=@js@"></script>
<script>
SwaggerUIBundle({url: document.getElementById("ui").dataset.spec, dom_id: "#ui",
                 validatorUrl: null});
</script>
</body></html>"""
"""Swagger UI from our own copy (``app.api.assets``: no CDN, works offline); every link
under the mount prefix (``root_path``)."""


@get("/docs", opt={"public": True})
async def docs(request: Req) -> HTMLResponse[str]:
    """API documentation (Swagger UI over /openapi.json)."""
    versions = {"css": SWAGGER["swagger-ui.css"].etag, "js": SWAGGER["swagger-ui-bundle.js"].etag}
    body = page(DOCS, request.scope.get("root_path", ""), **versions)
    return HTMLResponse(body, media_type="text/html", headers={"Cache-Control": "no-cache"})


ROUTES = [openapi_json, docs, *SWAGGER_ROUTES]
