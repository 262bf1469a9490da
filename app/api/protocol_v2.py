"""Protocol v2 thread streaming (API.md §2.6), as ``client.threads.stream()`` speaks it.

``POST /threads/{thread_id}/commands`` takes one command ``{id, method, params}`` and always
answers 200 with ``{"type":"success","id","result","meta":{"applied_through_seq"}}`` or
``{"type":"error","id","error":<code>,"message"}``; only an envelope that is not one (no
integer ``id``, no string ``method``, not JSON) is a 400. ``run.start`` creates a run through
the one create path (the thread is created when missing; on a busy thread the multitask
strategy decides, ``enqueue`` unless the params name another, and a ``reject`` becomes an
error), ``input.respond`` resumes the interrupted thread with ``Command(resume=...)``.

``POST /threads/{thread_id}/stream/events`` is the SSE of the thread's v2 events
(``app.services.protocol_v2``): ``event: <method>`` / ``data: <event>`` / ``id: <seq>``,
resumed after ``since`` from the durable event log, by any process; a process that stops
cuts the connection (the SDK then reconnects elsewhere). The WebSocket form of that path is
``app.api.protocol_v2_socket``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from litestar import Request, Response, post
from litestar.response import Stream

from app.api import sse
from app.api.body import decode, json
from app.api.deps import Services, services
from app.api.errors import STATUS_BY_ERROR
from app.auth.door import authorize, run_access
from app.core.access import Access
from app.core.errors import BadRequest, DomainError, InvalidInput, NotFound, NotSupported
from app.core.ids import parse_uuid
from app.core.runs import RunCreate
from app.core.statuses import ACTIVE
from app.services import introspection, protocol_v2
from app.services.protocol_v2 import CHANNELS, V2_STREAM_MODES, Filter

Req = Request[Any, Any, Any]
ENVELOPE = "Protocol commands must include an integer id and string method."
RUN_START_KEYS = (
    "input",
    "command",
    "config",
    "context",
    "metadata",
    "checkpoint_id",
    "checkpoint",
    "durability",
    "multitask_strategy",
    "interrupt_before",
    "interrupt_after",
    "after_seconds",
    "webhook",
    "langsmith_tracer",
    "feedback_keys",
    "strict_resume",
)


Command = Callable[[Req, uuid.UUID, dict[str, Any], Access], Awaitable[dict[str, Any]]]
Commands = dict[str, Command]


class ProtocolCommand(msgspec.Struct):
    """The body of ``POST /threads/{thread_id}/commands`` (for the OpenAPI document: the
    handler reads it leniently, to answer each mistake with the protocol's error)."""

    id: int
    method: str
    params: dict[str, Any] | None = None


class StreamCut(Exception):
    """Raised to cut a v2 event stream's connection (the SDK then reconnects)."""


def _not_a_cut(record: logging.LogRecord) -> bool:
    """A log filter: the server's "Exception in ASGI application" for a ``StreamCut`` is
    the intended end of a drained stream, not an error worth a traceback."""
    exc: BaseException | None = record.exc_info[1] if record.exc_info else None
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, StreamCut):
            return False
        inner = getattr(exc, "exceptions", None)  # an ExceptionGroup
        exc = inner[0] if inner else exc.__cause__ or exc.__context__
        seen += 1
    return True


logging.getLogger("uvicorn.error").addFilter(_not_a_cut)


class CommandError(Exception):
    """A command that fails with one of the protocol's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _envelope_error(command_id: Any, message: str) -> tuple[int, dict[str, Any]]:
    body = {"type": "error", "id": command_id, "error": "invalid_argument", "message": message}
    return 400, {**body, "detail": message}


def _code(exc: Exception) -> tuple[str, str]:
    """A failure's protocol error code and message."""
    if isinstance(exc, CommandError):
        return exc.code, exc.message
    if isinstance(exc, AuthHTTPException):
        return "permission_denied", str(exc.detail)
    if isinstance(exc, (InvalidInput, BadRequest)):
        return "invalid_argument", exc.detail
    if isinstance(exc, NotSupported):
        return "not_supported", exc.detail
    assert isinstance(exc, DomainError)
    status = next((STATUS_BY_ERROR[c] for c in type(exc).__mro__ if c in STATUS_BY_ERROR), 400)
    return "unknown_error", f"{status}: {exc.detail}"  # as the reference wraps an HTTP error


async def execute(
    request: Req, tid: uuid.UUID, acc: Access, command: Any, *, extra: Commands | None = None
) -> tuple[int, dict[str, Any]]:
    """One decoded command envelope → (HTTP status, the protocol's answer). ``extra``: more
    commands (the WebSocket's subscriptions)."""
    if not isinstance(command, dict):
        return _envelope_error(None, ENVELOPE)
    command_id, method = command.get("id"), command.get("method")
    if type(command_id) is not int or not isinstance(method, str):
        return _envelope_error(command_id, ENVELOPE)
    params = command.get("params")
    if params is None:
        params = {}
    handler = (extra or {}).get(method) or COMMANDS.get(method)
    try:
        if handler is None:
            raise CommandError("unknown_command", f"Unknown protocol command: {method}")
        if not isinstance(params, dict):
            raise CommandError("invalid_argument", f"{method} params must be an object.")
        seq = await protocol_v2.latest_seq(services(request).streams, tid)
        result = await handler(request, tid, params, acc)
    except (CommandError, DomainError, AuthHTTPException) as exc:
        code, message = _code(exc)
        return 200, {"type": "error", "id": command_id, "error": code, "message": message}
    meta = {"applied_through_seq": seq}
    return 200, {"type": "success", "id": command_id, "result": result, "meta": meta}


@post("/threads/{thread_id:str}/commands", status_code=200)
async def thread_command(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    # Every command reads the thread (its events, its state): the door first, so a refused
    # caller gets 403 whatever the body; a command that writes asks again for that.
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    try:
        command = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        status, body = _envelope_error(None, "Invalid JSON body")
    else:
        status, body = await execute(request, tid, acc, command)
    return json(body, status_code=status)


def _run_body(assistant_id: str, params: dict[str, Any]) -> RunCreate:
    fields = {key: params[key] for key in RUN_START_KEYS if params.get(key) is not None}
    fields.setdefault("multitask_strategy", "enqueue")
    fields.update(
        assistant_id=assistant_id,
        stream_mode=V2_STREAM_MODES,
        stream_subgraphs=True,
        if_not_exists="create",
    )
    try:
        return msgspec.convert(fields, RunCreate)
    except msgspec.ValidationError as exc:
        raise CommandError("invalid_argument", str(exc)) from None


async def _start(request: Req, tid: uuid.UUID, body: RunCreate) -> uuid.UUID:
    access, caller = await run_access(request, body, tid)
    run = await services(request).runs.create(access, caller, tid, body)
    return run.ids()[1]


async def run_start(
    request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
) -> dict[str, Any]:
    assistant_id = params.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise CommandError("invalid_argument", "run.start requires an assistant_id.")
    run_id = await _start(request, tid, _run_body(assistant_id, params))
    return {"run_id": str(run_id)}


async def _latest_run(svc: Services, acc: Access, tid: uuid.UUID) -> Any:
    found = await svc.runs.list(acc, tid, limit=1, offset=0, status=None, select=None)
    return found[0] if found else None


async def input_respond(
    request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
) -> dict[str, Any]:
    interrupt_id = params.get("interrupt_id")
    if not isinstance(interrupt_id, str) or not interrupt_id:
        raise CommandError("invalid_argument", "input.respond requires an interrupt_id.")
    if "response" not in params:
        raise CommandError("invalid_argument", "input.respond requires a response.")
    svc = services(request)
    # The event stream shows an interrupt before the run that raised it has committed its
    # end (and the thread's interrupts): while a run is active the answer waits behind it,
    # and ``strict_resume`` checks, when it starts, that the thread waits on that interrupt.
    # The run is read first: a run seen ended has committed its end, so the thread read
    # after it shows the interrupts (the other order misses both in that window).
    latest = await _latest_run(svc, acc, tid)
    thread = await svc.threads.get(acc, tid)
    pending = thread.interrupts if isinstance(thread.interrupts, dict) else {}
    waiting = {
        str(item.get("id"))
        for items in pending.values()
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    }
    active = latest is not None and latest.status in ACTIVE
    if interrupt_id not in waiting and not active:
        raise CommandError(
            "no_such_interrupt", f"Unknown or already-consumed interrupt: {interrupt_id}"
        )
    if latest is None:
        raise CommandError("no_such_run", "No run of this thread to resume.")
    resume = {
        "command": {"resume": {interrupt_id: params["response"]}},
        "strict_resume": True,
    }
    run_id = await _start(request, tid, _run_body(str(latest.assistant_id), resume))
    return {"run_id": str(run_id)}


async def agent_tree(
    request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
) -> dict[str, Any]:
    svc = services(request)
    await svc.threads.get(acc, tid)
    latest = await _latest_run(svc, acc, tid)
    if latest is None or latest.status not in ACTIVE:
        raise CommandError("no_such_run", "No active run is bound to this thread.")
    aid = latest.assistant_id
    assistant_access = await authorize(request, "assistants", "read", {"assistant_id": aid})
    graph = await svc.assistants.graph_of(assistant_access, aid)
    return introspection.drawing(graph, bool(params.get("xray")))


async def subscribe(
    request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
) -> dict[str, Any]:
    """Over HTTP a subscription is the stream request itself; accepted, as the reference."""
    await services(request).threads.get(acc, tid)
    return {"subscription_id": str(uuid.uuid4()), "replayed_events": 0}


async def unsubscribe(
    request: Req, tid: uuid.UUID, params: dict[str, Any], acc: Access
) -> dict[str, Any]:
    return {}


COMMANDS: Commands = {
    "run.start": run_start,
    "input.respond": input_respond,
    "agent.getTree": agent_tree,
    "subscription.subscribe": subscribe,
    "subscription.unsubscribe": unsubscribe,
}


class StreamEvents(msgspec.Struct, forbid_unknown_fields=False):
    """The body of ``POST /threads/{thread_id}/stream/events``."""

    channels: list[str] | None = None
    namespaces: list[list[str]] | None = None
    depth: int | None = None
    since: int | None = None


def subscription(body: StreamEvents) -> Filter:
    if not body.channels:
        raise BadRequest("channels is required and must be a non-empty array")
    unknown = [c for c in body.channels if c not in CHANNELS and not c.startswith("custom:")]
    if unknown:
        raise BadRequest(
            f"channels contains unsupported entries: {', '.join(unknown)}. Allowed: "
            f"{', '.join(sorted(CHANNELS))}, or any `custom:<name>`."
        )
    if body.depth is not None and body.depth < 0:
        raise BadRequest("depth must be a non-negative integer")
    if body.since is not None and body.since < 0:
        raise BadRequest("since must be a non-negative integer")
    return Filter(body.channels, body.namespaces, body.depth, body.since)


def lookup_in(svc: Services, acc: Access, tid: uuid.UUID) -> protocol_v2.Lookup:
    async def lookup(run_id: uuid.UUID) -> tuple[str | None, str | None]:
        run = await svc.runs.find(acc, tid, run_id)
        if run is None:
            return None, None
        configurable = ((run.kwargs or {}).get("config") or {}).get("configurable") or {}
        return configurable.get("graph_id"), str(run.status)

    return lookup


@post("/threads/{thread_id:str}/stream/events", status_code=200)
async def thread_stream_events(request: Req, thread_id: str) -> Stream:
    tid = parse_uuid(thread_id, "thread")
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    wanted = subscription(await decode(request, StreamEvents))
    svc = services(request)
    try:
        await svc.threads.get(acc, tid)  # 404 before the stream starts
    except NotFound:
        raise NotFound(f"Thread with ID {tid} not found") from None

    async def frames() -> AsyncIterator[bytes]:
        async for event in protocol_v2.events(svc.streams, tid, wanted, lookup_in(svc, acc, tid)):
            if event is None:
                yield sse.HEARTBEAT
            else:
                yield sse.frame(event.method, protocol_v2.encode(event), str(event.seq))
        if svc.streams.hub.draining:
            # The SDK takes a clean end for the end of the thread's stream; a cut connection
            # it reopens, with ``since``, on a process that serves on.
            raise StreamCut("the process stops: the client reconnects with since")

    # Not ``sse.response``: a failure mid-stream (and the drain) must cut the connection,
    # not end it with an ``error`` event, so that the SDK reconnects and resumes.
    headers = {**sse.HEADERS, "Content-Location": f"/threads/{tid}"}
    return Stream(frames(), media_type="text/event-stream", headers=headers, status_code=200)


ROUTES = [thread_command, thread_stream_events]
