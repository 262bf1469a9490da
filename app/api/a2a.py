"""The A2A endpoints (API.md §12.2): JSON-RPC at ``POST /a2a/{assistant_id}`` (0.3 and 1.0
method names; ``message/stream`` and ``SendStreamingMessage`` answer server-sent events) and
the agent cards at ``GET /.well-known/agent-card.json?assistant_id=`` and
``GET /a2a/{assistant_id}/.well-known/agent-card.json``. A graph id names its assistant.

JSON-RPC errors are answered with HTTP 200, as the reference server does; the use cases
are ``app.services.a2a``; this module reads the request and opens the access door.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Stream

from app.api import sse
from app.api.body import json
from app.api.deps import services
from app.auth.door import authorize, cancel_access, run_access
from app.core import jsonable, wire
from app.core.access import Access, Caller
from app.core.errors import BadRequest, NotFound
from app.core.ids import parse_uuid
from app.core.runs import RunCreate
from app.services import jsonrpc
from app.services.a2a import STREAM, A2aService, assistant_id_of

Req = Request[Any, Any, Any]


class _Door:
    """The access door (``app.auth.door``) for one A2A request."""

    def __init__(self, request: Req) -> None:
        self.request = request

    async def assistant(self, assistant_id: uuid.UUID) -> Access:
        value = {"assistant_id": assistant_id}
        return await authorize(self.request, "assistants", "read", value)

    async def run(self, body: RunCreate, thread_id: uuid.UUID) -> tuple[Access, Caller]:
        return await run_access(self.request, body, thread_id)

    async def read(self, thread_id: uuid.UUID | None, run_id: uuid.UUID | None) -> Access:
        value = {"thread_id": thread_id, "run_id": run_id}
        return await authorize(self.request, "threads", "read", value)

    async def cancel(self, thread_id: uuid.UUID, run_id: uuid.UUID) -> Access:
        return await cancel_access(self.request, thread_id, run_id)

    async def threads(self) -> Access:
        value: dict[str, Any] = {"metadata": {}, "values": {}, "status": None}
        return await authorize(self.request, "threads", "search", value)


def _base_url(request: Req) -> str:
    return str(request.base_url).rstrip("/")


async def _frames(
    events: AsyncIterator[dict[str, Any] | None], request_id: Any
) -> AsyncIterator[bytes]:
    async for event in events:
        if event is None:
            yield sse.HEARTBEAT
        else:
            yield sse.frame("message", jsonable.dumps(jsonrpc.result(request_id, event)))


@post("/a2a/{assistant_id:str}", status_code=200)
async def a2a_post(request: Req, assistant_id: str) -> Response[bytes] | Stream:
    """A2A JSON-RPC: messages (sent or streamed), tasks, the extended card"""
    try:
        call = jsonrpc.parse(await request.body())
    except jsonrpc.RpcError as exc:
        return json(jsonrpc.error_of(exc))
    if not call.answers:
        message = "Invalid request: A2A methods are requests and need an id"
        return json(jsonrpc.error(None, jsonrpc.INVALID_REQUEST, message))
    svc = services(request)
    a2a = A2aService(svc)
    door = _Door(request)
    try:
        aid = assistant_id_of(assistant_id, svc.registry.ids)
        try:
            assistant = await a2a.agent(door, aid)
        except NotFound:
            raise jsonrpc.RpcError(
                jsonrpc.INVALID_PARAMS, f"Assistant '{assistant_id}' not found"
            ) from None
        if call.method in STREAM:
            if "text/event-stream" not in (request.headers.get("accept") or ""):
                message = "Accept header must include text/event-stream for streaming"
                error = jsonrpc.error(call.request_id, jsonrpc.INVALID_REQUEST, message)
                return json(error, status_code=400)
            events = await a2a.stream(STREAM[call.method], call, door, assistant)
            return sse.response(_frames(events, call.request_id), headers={})
        value = await a2a.answer(call, door, assistant, _base_url(request))
    except jsonrpc.RpcError as exc:
        return json(jsonrpc.error_of(exc, call.request_id))
    return json(jsonrpc.result(call.request_id, value))


async def _card(request: Req, assistant_id: str) -> Response[bytes]:
    svc = services(request)
    if assistant_id in svc.registry.ids:
        aid = assistant_id_of(assistant_id, svc.registry.ids)
    else:
        aid = parse_uuid(assistant_id, "assistant")
    a2a = A2aService(svc)
    try:
        assistant: wire.Assistant = await a2a.agent(_Door(request), aid)
    except NotFound:
        raise NotFound(f"Assistant '{assistant_id}' not found") from None
    return json(await a2a.card(assistant, _base_url(request)))


@get("/.well-known/agent-card.json")
async def agent_card(request: Req) -> Response[bytes]:
    """The A2A agent card of the assistant named by ``assistant_id``"""
    assistant_id = request.query_params.get("assistant_id")
    if not assistant_id:
        raise BadRequest("Missing required query parameter: assistant_id")
    return await _card(request, assistant_id)


@get("/a2a/{assistant_id:str}/.well-known/agent-card.json")
async def assistant_agent_card(request: Req, assistant_id: str) -> Response[bytes]:
    """The A2A agent card of an assistant"""
    return await _card(request, assistant_id)


ROUTES = [a2a_post, agent_card, assistant_agent_card]
