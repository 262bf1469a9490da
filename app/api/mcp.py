"""The MCP endpoint (API.md §12.1): ``POST /mcp`` (and ``/mcp/``), stateless Streamable HTTP.

One JSON-RPC message per POST, answered as ``application/json``; notifications get 202 and
no body. There are no sessions: ``GET`` (a server-sent stream) answers 405 and ``DELETE``
(ending a session) 404, as the reference server. The use cases are
``app.services.mcp``; this module reads the body and opens the access door.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post

from app.api.body import json
from app.api.deps import services
from app.auth.door import authorize, run_access
from app.core.access import Access, Caller
from app.core.runs import RunCreate
from app.services import jsonrpc
from app.services.mcp import McpService

Req = Request[Any, Any, Any]
ACCEPTED = ("application/json", "text/event-stream", "*/*", "application/*")


class JsonRpcRequest(msgspec.Struct, kw_only=True):
    """One JSON-RPC 2.0 message (a request has an ``id``; a notification has none)."""

    jsonrpc: str = "2.0"
    method: str
    id: str | int | None = None
    params: dict[str, Any] | None = None


class _Door:
    """The access door (``app.auth.door``) for one MCP request."""

    def __init__(self, request: Req) -> None:
        self.request = request

    async def assistants(self) -> Access:
        value: dict[str, Any] = {"graph_id": None, "metadata": {}, "limit": 100, "offset": 0}
        return await authorize(self.request, "assistants", "search", value)

    async def run(self, body: RunCreate) -> tuple[Access, Caller]:
        return await run_access(self.request, body, None)


def _accepts(request: Req) -> bool:
    accept = request.headers.get("accept")
    return accept is None or any(kind in accept for kind in ACCEPTED)


@post("/mcp", status_code=200)
async def mcp_post(request: Req) -> Response[bytes]:
    """MCP over stateless Streamable HTTP: one JSON-RPC message per request"""
    if not _accepts(request):
        message = "Accept header must include application/json or text/event-stream"
        return json(jsonrpc.error(None, jsonrpc.INVALID_REQUEST, message), status_code=400)
    try:
        call = jsonrpc.parse(await request.body())
    except jsonrpc.RpcError as exc:
        return json(jsonrpc.error_of(exc), status_code=400)
    if not call.answers:  # a notification: 202 and no body (so no JSON content type either)
        return Response(content=b"", status_code=202, media_type="text/plain")
    svc = services(request)
    mcp = McpService(svc.assistants, svc.runs, svc.registry)
    try:
        value = await mcp.answer(call, _Door(request))
    except jsonrpc.RpcError as exc:
        return json(jsonrpc.error_of(exc, call.request_id))
    return json(jsonrpc.result(call.request_id, value))


@get("/mcp", status_code=405)
async def mcp_get() -> Response[bytes]:
    """No server-sent stream: this MCP server is stateless (405)"""
    detail = "This MCP server is stateless: it has no server-sent stream to GET; POST messages."
    return json({"detail": detail}, status_code=405, headers={"Allow": "POST"})


@delete("/mcp", status_code=404)
async def mcp_delete() -> Response[bytes]:
    """No session to end: this MCP server is stateless (404)"""
    return json(
        {"detail": "This MCP server is stateless: there is no session to end."}, status_code=404
    )


ROUTES = [mcp_post, mcp_get, mcp_delete]
