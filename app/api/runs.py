"""Run endpoints (API.md §2.3): create, wait, join, list, get, delete, cancel."""

from __future__ import annotations

import asyncio
import functools
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
from app.auth.door import authorize, authorize_run
from app.core import jsonable, wire
from app.core.errors import InvalidInput
from app.core.ids import parse_uuid, system_assistant_id
from app.core.runs import RunCreate
from app.db.access import Access
from app.db.errors import is_transient
from app.db.loops import Backoff
from app.db.notify import UNKNOWN

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


class _Waiter:
    """Waits for a run's end and knows its output (API.md §5.4).

    The hub knows the output of a run that ended in this process, and which runs ended
    elsewhere (read from the row). ``fresh``: the run was created by this request, so its
    end cannot have been reported before this process's hub saw it; no first query.

    A read of the row that fails on a database fault (``is_transient``) is retried with
    backoff, as long as the client waits: a wait never ends without the run's output."""

    def __init__(self, svc: Services, run_id: uuid.UUID, *, fresh: bool) -> None:
        self.svc = svc
        self.run_id = run_id
        self.check_row = not fresh
        self.output: Any = None
        self.backoff = Backoff()

    async def ended_within(self, seconds: float) -> bool:
        """Whether the run ended within ``seconds`` (then ``output`` holds its output).
        Raises only what is not a database fault."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        with self.svc.hub.watch_done(self.run_id) as done:
            while True:
                done.clear()
                recent = self.svc.hub.recent_outcome(self.run_id)
                if recent is not None and recent is not UNKNOWN:
                    self.output = recent
                    return True
                pause = None
                if recent is UNKNOWN or self.check_row:
                    try:
                        ended, output = await self.svc.runs.outcome(self.run_id)
                    except Exception as exc:
                        if not is_transient(exc):
                            raise
                        log.info(
                            "wait for run %s: reading it failed, retrying: %r", self.run_id, exc
                        )
                        pause = self.backoff.next()
                    else:
                        self.backoff.reset()
                        if ended:
                            self.output = output
                            return True
                remaining = deadline - loop.time()
                try:
                    await asyncio.wait_for(
                        done.wait(), remaining if pause is None else min(pause, remaining)
                    )
                except TimeoutError:
                    if loop.time() >= deadline:
                        self.check_row = True  # a lost NOTIFY is found by reading the row
                        return False
                # Woken: by the run's end (the hub then holds the outcome) or by a catch-up
                # after the LISTEN connection came back (the row tells); or a retry is due.
                self.check_row = True

    def body(self) -> bytes:
        return jsonable.dumps(self.output if self.output is not None else {})


async def after_end(after: Callable[[], Awaitable[Any]] | None, run_id: uuid.UUID) -> None:
    """The response's clean-up once the run ended; its failure does not cost the client
    the output (a temporary thread left behind is swept a minute later)."""
    if after is None:
        return
    try:
        await after()
    except Exception as exc:
        log.warning("run %s: clean-up after the wait failed: %r", run_id, exc)


async def output_stream(
    waiter: _Waiter, *, after: Any = None, started: bool = False
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
    waiter = _Waiter(svc, run_id, fresh=fresh)
    if on_disconnect is None and await waiter.ended_within(KEEPALIVE_SECONDS):
        await after_end(after, run_id)
        return Response(content=waiter.body(), media_type="application/json", headers=headers)
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


async def run_access(request: Req, body: RunCreate, thread_id: uuid.UUID | None) -> Access:
    """The access door for a run create (``threads.create_run``, and ``assistants.read`` on
    a user-made assistant); the handler's metadata changes go into ``body``."""
    if request.app.state["authorizer"] is None:  # no custom auth: headers only
        return Access(configurable=request.app.state["headers"].pick(request.headers))
    svc = services(request)
    aid: uuid.UUID | None = None
    if body.assistant_id not in svc.registry:
        try:
            aid = uuid.UUID(body.assistant_id)
        except ValueError:
            aid = None  # the create answers 422 for it
        if aid in _system_ids(tuple(svc.registry.ids)):
            aid = None
    value: dict[str, Any] = {
        "thread_id": thread_id,
        "assistant_id": aid or body.assistant_id,
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.metadata or {}),
        "prevent_insert_if_inflight": True,
        "multitask_strategy": body.multitask_strategy or "enqueue",
        "if_not_exists": body.if_not_exists or ("create" if thread_id is None else "reject"),
        "after_seconds": body.after_seconds or 0,
        "kwargs": msgspec.structs.asdict(body),
        "action": body.multitask_strategy
        if body.multitask_strategy in ("interrupt", "rollback")
        else None,
    }
    acc = await authorize_run(request, value, aid)
    body.metadata = value.get("metadata") or None
    return acc


@functools.cache
def _system_ids(graph_ids: tuple[str, ...]) -> frozenset[uuid.UUID]:
    return frozenset(system_assistant_id(g) for g in graph_ids)


async def cancel_access(request: Req, thread_id: uuid.UUID, run_id: uuid.UUID) -> Access:
    value = {"thread_id": thread_id, "run_id": run_id, "action": "interrupt", "metadata": {}}
    return await authorize(request, "threads", "update", value)


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


@post("/threads/{thread_id:str}/runs", status_code=200)
async def create_run(request: Req, thread_id: str) -> Response[bytes]:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, RunCreate)
    run = await services(request).runs.create(await run_access(request, body, tid), tid, body)
    location, _ = _paths(run, False)
    return json(run, headers={"Content-Location": location})


@post("/runs", status_code=200)
async def create_stateless_run(request: Req) -> Response[bytes]:
    body = await decode(request, RunCreate)
    run = await services(request).runs.create(await run_access(request, body, None), None, body)
    location, _ = _paths(run, True)
    return json(run, headers={"Content-Location": location})


@post("/threads/{thread_id:str}/runs/wait", status_code=200)
async def wait_run(request: Req, thread_id: str) -> Response[bytes] | Stream:
    tid = parse_uuid(thread_id, "thread")
    body = await decode(request, RunCreate)
    svc = services(request)
    run = await svc.runs.create(await run_access(request, body, tid), tid, body)
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
    body = await decode(request, RunCreate)
    svc = services(request)
    run = await svc.runs.create(await run_access(request, body, None), None, body, waited=True)
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
    accesses = [await run_access(request, body, None) for body in bodies]
    return json(await services(request).runs.create_batch(accesses, bodies))


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
