"""Per-request plumbing around the controllers: authentication (custom auth's
``@auth.authenticate``) and request ids."""

from __future__ import annotations

import re
import uuid
from typing import Any

from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.api.body import json
from app.auth.handlers import Authorizer

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_public(scope: Scope) -> bool:
    """Routes anyone may call (``/ok``, ``/info``, ``/docs``, ``/openapi.json``)."""
    handler = scope.get("route_handler")
    return bool(handler is not None and handler.opt.get("public"))


AUTHENTICATED = "turnstile.authenticated"
"""Set in ``scope["state"]`` once a request was authenticated (by the gate in front of a
custom app's middleware, ``middleware_order: auth_first``): not authenticated twice."""


async def authenticated(authorizer: Authorizer, scope: Scope, receive: Receive, send: Send) -> bool:
    """Run the authenticate handler for this request: its user goes to
    ``scope["state"]["user"]`` (and ``scope["user"]``, where Starlette apps look) and True
    is returned; its ``HTTPException`` is sent as the response and False returned."""
    state = scope.setdefault("state", {})
    if state.get(AUTHENTICATED):
        return True
    request: Request[Any, Any, Any] = Request(scope, receive)
    pieces = {name: _piece(name, request, scope) for name in authorizer.wants}
    try:
        user = await authorizer.authenticate(pieces, dict(scope.get("headers") or []))
    except AuthHTTPException as exc:
        response = json(
            {"detail": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers or {})
        )
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)
        return False
    state["user"] = user
    state[AUTHENTICATED] = True
    scope["user"] = user
    return True


class Authentication:
    """Calls the authenticate handler before every non-public route; its user goes to
    ``scope["state"]["user"]``, its ``HTTPException`` becomes the response."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer) -> None:
        self.app = app
        self.authorizer = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or is_public(scope) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if await authenticated(self.authorizer, scope, receive, send):
            await self.app(scope, receive, send)


def _piece(name: str, request: Request[Any, Any, Any], scope: Scope) -> Any:
    """One request piece an authenticate handler asks for by parameter name."""
    if name == "request":
        return request
    if name == "scope":
        return scope
    if name == "authorization":
        return request.headers.get("authorization")
    if name == "headers":
        return dict(scope.get("headers") or [])
    if name == "path":
        return scope.get("path", "")
    if name == "method":
        return scope.get("method", "")
    if name == "query_params":
        return dict(request.query_params)
    return dict(scope.get("path_params") or {})  # path_params


async def allow_private_network(message: Message, scope: Scope) -> None:
    """``before_send`` hook (``ALLOW_PRIVATE_NETWORK``): a CORS preflight that asks
    (``Access-Control-Request-Private-Network: true``) is told this server allows it."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    asked = dict(scope.get("headers") or []).get(b"access-control-request-private-network")
    if asked == b"true":
        MutableScopeHeaders.from_message(message)["access-control-allow-private-network"] = "true"


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every response carries ``x-request-id``: the caller's own when
    it sent a sane one, else a new id (the SDK shows it in its errors)."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "x-request-id" not in headers:
        headers["x-request-id"] = request_id(scope)


def request_id(scope: Scope) -> str:
    """The request's id (kept in ``scope["state"]``): the caller's ``x-request-id`` when it
    sent a sane one, else a new one."""
    state = scope.setdefault("state", {})
    found: str | None = state.get("request_id")
    if found is None:
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        found = sent if REQUEST_ID.match(sent) else str(uuid.uuid4())
        state["request_id"] = found
    return found
