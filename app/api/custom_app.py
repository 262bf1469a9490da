"""``http.app``: the team's own ASGI app (FastAPI, Starlette, Litestar, any ASGI callable)
served beside the API, as the official server does it (API.md §11).

- Its routes come first: they may shadow any API route except ``/ok``, ``/metrics``,
  ``/docs`` (with its Swagger UI files) and ``/openapi.json``; a path it has no route for
  goes to the API.
- Its middleware wraps API requests too (a Starlette app's ``user_middleware``: the request
  goes through the app, whose router falls back to the API). Any other ASGI app is asked
  first and, when it answers 404, the request goes to the API with its body replayed.
- Its lifespan runs beside the API's (the API's starts first and stops last).
- Custom auth applies to its routes only with ``http.enable_custom_route_auth``; with
  ``http.middleware_order: auth_first`` authentication runs before its middleware.
- ``http.mount_prefix``: every route is served under the prefix (``/ok`` also at the root).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from app.api.assets import CONSOLE_FILES, DOCS_FILES
from app.api.middleware import authenticated
from app.auth.handlers import Authorizer
from app.graphs.config import ConfigError
from app.graphs.registry import import_variable
from app.policies import HttpOptions

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""Plain ASGI types: the user's app is not a Litestar app."""

UNSHADOWABLE = frozenset({"/ok", "/metrics", "/docs", "/openapi.json"}) | DOCS_FILES
PUBLIC = (
    frozenset({"/", "/ok", "/info", "/docs", "/openapi.json", "/console"})
    | DOCS_FILES
    | CONSOLE_FILES
)
"""Paths anyone may call: not authenticated in front of the custom app either."""


def load(spec: str, base_dir: str) -> ASGIApp:
    app = import_variable(spec, base_dir, "http.app")
    if not callable(app):
        raise ConfigError(f"http.app {spec!r} is not an ASGI application")
    return app  # type: ignore[no-any-return]


class Gate:
    """Custom auth in front of ``app`` (public paths pass)."""

    def __init__(self, app: ASGIApp, authorizer: Authorizer) -> None:
        self.app = app
        self.authorizer = authorizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") == "OPTIONS"
            or _route_path(scope) in PUBLIC
            or await authenticated(self.authorizer, scope, receive, send)  # type: ignore[arg-type]
        ):
            await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _starlette_routes(app: Any) -> list[Any] | None:
    router = getattr(app, "router", None)
    routes = getattr(router, "routes", None)
    if router is None or not isinstance(routes, list) or not hasattr(router, "default"):
        return None
    return routes


class Composed:
    """The ASGI app ``serve`` runs: the API (``api``, the Litestar app), the user's app
    (``user``, or None) and the ``http`` options around them."""

    def __init__(
        self,
        api: Any,
        user: Any | None,
        options: HttpOptions,
        authorizer: Authorizer | None,
        state: Any = None,
    ) -> None:
        self.api = api
        self.state = state
        """The API's application state (the CLI reaches the running process there)."""
        self.user = user
        self.prefix = options.mount_prefix
        self.entry: ASGIApp = api
        if user is None:
            return
        routes = _starlette_routes(user)
        gate_routes = options.custom_route_auth and authorizer is not None
        if routes is not None:
            if gate_routes and authorizer is not None:
                for route in routes:
                    route.app = Gate(route.app, authorizer)
            user.router.default = api  # what none of its routes match: the API
            self.entry = user
        else:
            inner = Gate(user, authorizer) if gate_routes and authorizer else user
            self.entry = _Fallthrough(inner, api)
        if options.auth_first and authorizer is not None:
            self.entry = _GateUnlessCustom(self.entry, authorizer, routes, gate_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.prefix is not None:
            path: str = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = {**scope, "root_path": scope.get("root_path", "") + self.prefix}
                scope["path"] = path[len(self.prefix) :] or "/"
            elif path != "/ok":
                await _not_found(send)
                return
        if scope["type"] in ("http", "websocket") and scope["path"] in UNSHADOWABLE:
            await self.api(scope, receive, send)
        else:
            await self.entry(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the API's lifespan, then the user's; at shutdown stop them in reverse."""
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(_running(self.api, scope))
                if self.user is not None:
                    await stack.enter_async_context(_running(self.user, scope))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})


@contextlib.asynccontextmanager
async def _running(app: ASGIApp, scope: Scope) -> AsyncIterator[None]:
    """One app's lifespan protocol, driven: started on entry, shut down on exit."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await outbox.put(message)

    task: asyncio.Task[None] = asyncio.create_task(
        app({**scope, "state": scope.get("state", {})}, inbox.get, send)  # type: ignore[arg-type]
    )
    await inbox.put({"type": "lifespan.startup"})
    answer = await _answer(outbox, task)
    if answer is None:  # an app without a lifespan
        yield
        return
    if answer["type"] != "lifespan.startup.complete":
        raise RuntimeError(answer.get("message") or "lifespan startup failed")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await _answer(outbox, task)
        await task


async def _answer(outbox: asyncio.Queue[Message], task: asyncio.Task[Any]) -> Message | None:
    """The app's next lifespan message, or None if the app returned (or raised: an app
    that does not speak the lifespan protocol) without sending one."""
    getter = asyncio.ensure_future(outbox.get())
    done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    if task.exception() is not None and not outbox.empty():
        return outbox.get_nowait()
    return None


class _GateUnlessCustom:
    """``auth_first``: authenticate before the user's middleware runs, for API requests
    (and custom routes when they are authenticated at all)."""

    def __init__(
        self, app: ASGIApp, authorizer: Authorizer, routes: list[Any] | None, gate_custom: bool
    ) -> None:
        self.gate = Gate(app, authorizer)
        self.app = app
        self.routes = routes
        self.gate_custom = gate_custom

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gate_custom or not self._custom(scope):
            await self.gate(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _custom(self, scope: Scope) -> bool:
        if self.routes is None:
            return False
        from starlette.routing import Match

        return any(route.matches(scope)[0] != Match.NONE for route in self.routes)


class _Fallthrough:
    """A non-Starlette app first; its 404 hands the request to the API (body replayed)."""

    def __init__(self, user: ASGIApp, api: ASGIApp) -> None:
        self.user = user
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        seen: list[Message] = []
        missed = False
        started = False

        async def recording() -> Message:
            message = await receive()
            seen.append(message)
            return message

        async def watching(message: Message) -> None:
            nonlocal missed, started
            if message["type"] == "http.response.start" and not started:
                started = True
                missed = message["status"] == 404
            if not missed:
                await send(message)

        await self.user(scope, recording, watching)
        if not missed:
            return
        replay = list(seen)

        async def replaying() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.api(scope, replaying, send)


async def _not_found(send: Send) -> None:
    body = b'{"detail":"Not Found"}'
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
