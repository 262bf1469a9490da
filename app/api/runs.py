"""Run endpoints (API.md §2.3): create, wait, join, list, get, delete, cancel.

HTTP only: the door is ``app.auth.door`` (``run_access``, ``cancel_access``), the create
``app.services.run_create``, the waiting ``app.services.waits``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.response import Stream

from app.api.body import decode, empty, flag, int_param, json
from app.api.deps import Services, services
from app.api.schemas import MAX_LIMIT, MAX_OFFSET
from app.api.sse import INTERNAL_ERROR, guarded
from app.auth.door import authorize, cancel_access, run_access
from app.core import jsonable, wire
from app.core.access import Access
from app.core.errors import InvalidInput
from app.core.ids import parse_uuid
from app.core.runs import RunCreate
from app.services.waits import Waiter, after_end

Req = Request[Any, Any, Any]
log = logging.getLogger("turnstile.api")
KEEPALIVE_SECONDS = 5.0
RUN_NOT_FOUND = {"__error__": {"error": "HTTPException", "message": "404: Run not found"}}


def _paths(run: wire.Run, stateless: bool) -> tuple[str, str]:
    """(Content-Location, the run's own path prefix for Location)."""
    tid, rid = run.ids()
    if stateless:
        return f"/runs/{rid}", f"/threads/{tid}/runs/{rid}"
    path = f"/threads/{tid}/runs/{rid}"
    return path, path


async def output_stream(
    waiter: Waiter, *, after: Any = None, started: bool = False
) -> AsyncIterator[bytes]:
    """Wait for the run to end, writing ``\n`` every 5 s, then its output as JSON.
    ``started``: 5 s already passed without an answer (write the first ``\n`` now).
    Once started the body always ends with a JSON document: the output, or (for an
    unexpected error) an ``__error__`` object, never nothing."""
    if started:
        yield b"\n"
    try:
        while not await waiter.ended_within(KEEPALIVE_SECONDS):
            yield b"\n"
    except Exception as exc:
        log.exception("wait for run %s failed", waiter.run_id, exc_info=exc)
        error = {"error": type(exc).__name__, "message": INTERNAL_ERROR}
        yield jsonable.dumps({"__error__": error})
        return
    await after_end(after, waiter.run_id)
    yield waiter.body()


async def wait_response(
    svc: Services,
    run_id: uuid.UUID,
    headers: dict[str, str],
    *,
    fresh: bool = False,
    after: Callable[[], Awaitable[Any]] | None = None,
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> Response[bytes] | Stream:
    """The output of a run once it ends: a plain JSON response when it ends within 5 s
    (most runs), else a stream that writes ``\n`` every 5 s until it does. A response that
    must notice its client going away (``on_disconnect``) streams from the start."""
    waiter = svc.runs.waiter(run_id, fresh=fresh)
    if on_disconnect is None and await waiter.ended_within(KEEPALIVE_SECONDS):
        await after_end(after, run_id)
        return Response(
            content=waiter.body(), media_type="application/json", headers=headers, status_code=200
        )
    started = on_disconnect is None
    return _stream(output_stream(waiter, after=after, started=started), headers, on_disconnect)


def _stream(
    body: AsyncIterator[bytes],
    headers: dict[str, str],
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> Stream:
    return Stream(
        guarded(body, sse=False, on_disconnect=on_disconnect),
        media_type="application/json",
        headers=headers,
        status_code=200,
    )


def canceller(
    svc: Services, acc: Access, thread_id: uuid.UUID, run_id: uuid.UUID
) -> Callable[[], Awaitable[None]]:
    """What a response does when its client goes away and asked for the run to stop
    (``on_disconnect=cancel``, ``cancel_on_disconnect``); ``acc`` from ``cancel_access``."""
    return lambda: svc.runs.cancel(acc, thread_id, run_id, "interrupt")


async def _cancel_if(
    body: RunCreate, svc: Services, request: Req, run: wire.Run
) -> Callable[[], Awaitable[None]] | None:
    if body.on_disconnect != "cancel":
        return None
    tid, rid = run.ids()
    return canceller(svc, await cancel_access(request, tid, rid), tid, rid)


async def created(
    request: Req, thread_id: uuid.UUID | None, *, waited: bool = False, only_output: bool = False
) -> tuple[RunCreate, wire.Run]:
    """The body of a create request and the run it created (through the access door)."""
    body = await decode(request, RunCreate)
    access, caller = await run_access(request, body, thread_id)
    run = await services(request).runs.create(
        access, caller, thread_id, body, waited=waited, only_output=only_output
    )
    return body, run


@post("/threads/{thread_id:str}/runs", status_code=200)
async def create_run(request: Req, thread_id: str) -> Response[bytes]:
    _, run = await created(request, parse_uuid(thread_id, "thread"))
    location, _ = _paths(run, False)
    return json(run, headers={"Content-Location": location})


@post("/runs", status_code=200)
async def create_stateless_run(request: Req) -> Response[bytes]:
    _, run = await created(request, None)
    location, _ = _paths(run, True)
    return json(run, headers={"Content-Location": location})


@post("/threads/{thread_id:str}/runs/wait", status_code=200)
async def wait_run(request: Req, thread_id: str) -> Response[bytes] | Stream:
    body, run = await created(request, parse_uuid(thread_id, "thread"), only_output=True)
    svc = services(request)
    location, path = _paths(run, False)
    headers = {"Content-Location": location, "Location": f"{path}/join"}
    return await wait_response(
        svc,
        run.ids()[1],
        headers,
        fresh=True,
        on_disconnect=await _cancel_if(body, svc, request, run),
    )


@post("/runs/wait", status_code=200)
async def wait_stateless_run(request: Req) -> Response[bytes] | Stream:
    body, run = await created(request, None, waited=True, only_output=True)
    svc = services(request)
    location, path = _paths(run, True)
    headers = {"Content-Location": location, "Location": f"{path}/join"}
    after = None
    if (body.on_completion or "delete") == "delete":
        thread_id = run.ids()[0]

        async def after() -> None:
            await svc.runs.discard_temporary(thread_id)

    return await wait_response(
        svc,
        run.ids()[1],
        headers,
        fresh=True,
        after=after,
        on_disconnect=await _cancel_if(body, svc, request, run),
    )


@get("/threads/{thread_id:str}/runs")
async def list_runs(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    q = request.query_params
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    runs = await services(request).runs.list(
        acc,
        tid,
        limit=int_param(request, "limit", 10, low=1, high=MAX_LIMIT),
        offset=int_param(request, "offset", 0, low=0, high=MAX_OFFSET),
        status=q.get("status") or None,
        select=q.getall("select", []) or None,
    )
    return json(runs)


@get("/threads/{thread_id:str}/runs/{run_id:str}")
async def get_run(request: Req, thread_id: str, run_id: str) -> Response[bytes]:
    tid, rid = parse_uuid(thread_id, "thread"), parse_uuid(run_id, "run")
    acc = await authorize(request, "threads", "read", {"thread_id": tid, "run_id": rid})
    return json(await services(request).runs.get(acc, tid, rid))


@delete("/threads/{thread_id:str}/runs/{run_id:str}", status_code=204)
async def delete_run(request: Req, thread_id: str, run_id: str) -> None:
    tid, rid = parse_uuid(thread_id, "thread"), parse_uuid(run_id, "run")
    acc = await authorize(request, "threads", "delete", {"thread_id": tid, "run_id": rid})
    await services(request).runs.delete(acc, tid, rid)


@get("/threads/{thread_id:str}/runs/{run_id:str}/join")
async def join_run(request: Req, thread_id: str, run_id: str) -> Response[bytes] | Stream:
    tid, rid = parse_uuid(thread_id, "thread"), parse_uuid(run_id, "run")
    svc = services(request)
    acc = await authorize(request, "threads", "read", {"thread_id": tid, "run_id": rid})
    if not await svc.runs.exists(acc, tid, rid):
        return json(RUN_NOT_FOUND)
    path = f"/threads/{tid}/runs/{rid}"
    headers = {"Content-Location": path, "Location": f"{path}/join"}
    on_disconnect = None
    if flag(request, "cancel_on_disconnect"):
        on_disconnect = canceller(svc, await cancel_access(request, tid, rid), tid, rid)
    return await wait_response(svc, rid, headers, on_disconnect=on_disconnect)


@post("/threads/{thread_id:str}/runs/{run_id:str}/cancel", status_code=202)
async def cancel_run(request: Req, thread_id: str, run_id: str) -> Response[bytes] | Stream:
    tid, rid = parse_uuid(thread_id, "thread"), parse_uuid(run_id, "run")
    svc = services(request)
    action = request.query_params.get("action") or "interrupt"
    value: dict[str, Any] = {"thread_id": tid, "run_id": rid, "action": action, "metadata": {}}
    acc = await authorize(request, "threads", "update", value)
    await svc.runs.cancel(acc, tid, rid, action)
    if not flag(request, "wait"):
        return empty(202)
    path = f"/threads/{tid}/runs/{rid}"
    headers = {"Content-Location": path, "Location": f"{path}/join"}
    return await wait_response(svc, rid, headers)


class CancelMany(msgspec.Struct, kw_only=True):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


@post("/runs/cancel", status_code=204)
async def cancel_many(request: Req) -> None:
    body = await decode(request, CancelMany)
    if body.status is not None and (body.thread_id or body.run_ids):
        raise InvalidInput("Give either thread_id and run_ids, or status, not both.")
    if body.status is None and not (body.thread_id and body.run_ids):
        raise InvalidInput("Give thread_id and run_ids, or status.")
    action = request.query_params.get("action") or "interrupt"
    thread_id = parse_uuid(body.thread_id, "thread") if body.thread_id else None
    run_ids = [parse_uuid(r, "run") for r in body.run_ids or []]
    value = {"thread_id": thread_id, "run_ids": run_ids, "status": body.status, "action": action}
    await services(request).runs.cancel_many(
        await authorize(request, "threads", "update", value),
        thread_id=thread_id,
        run_ids=run_ids,
        status=body.status,
        action=action,
    )


@post("/runs/batch", status_code=200)
async def create_batch(request: Req) -> Response[bytes]:
    """Stateless runs created together: all of them, or none (any error leaves no run)."""
    bodies = await decode(request, list[RunCreate])
    doors = [await run_access(request, body, None) for body in bodies]
    return json(await services(request).runs.create_batch(doors, bodies))


ROUTES = [
    cancel_many,
    create_batch,
    create_run,
    create_stateless_run,
    wait_run,
    wait_stateless_run,
    list_runs,
    get_run,
    delete_run,
    join_run,
    cancel_run,
]
