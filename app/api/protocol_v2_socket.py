"""Protocol v2 over a WebSocket: ``/threads/{thread_id}/stream/events`` full duplex
(API.md §2.6), as the SDK's ``transport="websocket"`` uses it.

Every text frame the client sends is a command envelope, answered with one frame in the
form ``POST /threads/{thread_id}/commands`` answers. ``subscription.subscribe`` (params:
the body of the SSE request, ``since`` included) starts sending that subscription's events,
one JSON frame each, from the durable event log; ``subscription.unsubscribe``
(``subscription_id``) stops it; every other command is the HTTP one.

The socket is accepted first, then checked: authentication (custom auth's handler, as the
HTTP middleware runs it), the access door and the thread's existence. A refusal closes it
with ``4000 + status`` (4401, 4403, 4404, 4422), the code the SDK reads as the status a
browser cannot see on a refused upgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, cast

import msgspec
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from litestar import Request, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from app.api.deps import services
from app.api.errors import STATUS_BY_ERROR
from app.api.middleware import _piece
from app.api.protocol_v2 import (
    CommandError,
    Commands,
    StreamEvents,
    execute,
    lookup_in,
    subscription,
)
from app.auth.door import authorize
from app.auth.handlers import Authorizer
from app.core import jsonable
from app.core.access import Access
from app.core.errors import DomainError
from app.core.ids import parse_uuid
from app.services import protocol_v2

Req = Request[Any, Any, Any]
Socket = WebSocket[Any, Any, Any]


async def _authenticate(socket: Socket) -> None:
    """Custom auth's ``authenticate`` handler for the handshake (raises its refusal)."""
    authorizer: Authorizer | None = socket.app.state.get("authorizer")
    if authorizer is None:
        return
    request: Req = Request(socket.scope, socket.receive)
    pieces = {name: _piece(name, request, socket.scope) for name in authorizer.wants}
    user = await authorizer.authenticate(pieces, dict(socket.scope.get("headers") or []))
    socket.scope.setdefault("state", {})["user"] = user


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AuthHTTPException):
        return 4000 + exc.status_code, str(exc.detail)
    assert isinstance(exc, DomainError)
    status = next((STATUS_BY_ERROR[c] for c in type(exc).__mro__ if c in STATUS_BY_ERROR), 400)
    return 4000 + status, exc.detail


class _Session:
    """One socket's subscriptions, each a task sending its events."""

    def __init__(self, socket: Socket, tid: uuid.UUID, acc: Access) -> None:
        self.socket = socket
        self.tid = tid
        self.acc = acc
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.lock = asyncio.Lock()
        self.commands: Commands = {
            "subscription.subscribe": self.subscribe,
            "subscription.unsubscribe": self.unsubscribe,
        }

    async def send(self, body: Any) -> None:
        async with self.lock:
            await self.socket.send_text(jsonable.dumps_str(body))

    async def subscribe(
        self, request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
    ) -> dict[str, Any]:
        try:
            wanted = subscription(msgspec.convert(params, StreamEvents))
        except msgspec.ValidationError as exc:
            raise CommandError("invalid_argument", str(exc)) from None
        sid = str(uuid.uuid4())
        self.tasks[sid] = asyncio.create_task(self._pump(wanted), name=f"v2-socket-{sid}")
        return {"subscription_id": sid, "replayed_events": 0}

    async def unsubscribe(
        self, request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
    ) -> dict[str, Any]:
        task = self.tasks.pop(str(params.get("subscription_id")), None)
        if task is None:
            raise CommandError("no_such_subscription", "No such subscription.")
        task.cancel()
        return {}

    async def _pump(self, wanted: protocol_v2.Filter) -> None:
        svc = services(cast(Req, self.socket))
        lookup = lookup_in(svc, self.acc, self.tid)
        # The subscribe's answer goes first: the events wait for the lock it holds.
        async for event in protocol_v2.events(svc.streams, self.tid, wanted, lookup):
            if event is not None:
                await self.send(event.wire())
        # The thread is gone, or the process stops (1012: the SDK reconnects elsewhere).
        with contextlib.suppress(Exception):
            await self.socket.close(code=1012 if svc.streams.hub.draining else 1000)

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(BaseException):
                await task


@websocket("/threads/{thread_id:str}/stream/events")
async def thread_stream_socket(socket: Socket, thread_id: str) -> None:
    request = cast(Req, socket)  # what the door and the commands read of a request
    await socket.accept()
    try:
        tid = parse_uuid(thread_id, "thread")
        await _authenticate(socket)
        acc = await authorize(request, "threads", "read", {"thread_id": tid})
        await services(request).threads.get(acc, tid)
    except (AuthHTTPException, DomainError) as exc:
        code, reason = _refusal(exc)
        await socket.close(code=code, reason=reason[:120])
        return
    session = _Session(socket, tid, acc)
    try:
        while True:
            raw = await socket.receive_text()
            try:
                command = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                command = None
            async with session.lock:  # a subscription's events start after its answer
                _, body = await execute(request, tid, acc, command, extra=session.commands)
                await socket.send_text(jsonable.dumps_str(body))
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()


ROUTES = [thread_stream_socket]
