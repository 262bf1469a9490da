"""Streaming endpoints (API.md §6): create-and-stream, join a run's stream, thread stream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.response import Stream

from app.api import sse
from app.api.body import flag
from app.api.deps import Services, services
from app.api.runs import canceller, created
from app.auth.door import authorize, cancel_access
from app.core import wire
from app.core.ids import parse_uuid
from app.services.streams import (
    Cursor,
    run_mode_filter,
    thread_modes,
    wanted_by_join,
    wanted_by_thread,
)
from app.services.waits import after_end

Req = Request[Any, Any, Any]


async def _run_frames(
    svc: Services,
    run_id: uuid.UUID,
    cursor: Cursor,
    *,
    with_ids: bool,
    modes: frozenset[str] | None = None,
    after: Callable[[], Awaitable[None]] | None = None,
    new_run: bool = False,
    watch: bool = True,
) -> AsyncIterator[bytes]:
    """The run's events as SSE frames. ``new_run``: the run was just created by this
    request and the stream has no ids, so its first event is sent at once
    (``StreamService.new_run_events``). ``watch``: register as its watcher (a run that
    writes its events only while watched)."""
    if new_run and not with_ids:
        events = svc.streams.new_run_events(run_id)
    else:
        events = svc.streams.run_events(run_id, cursor, watch=watch)
    async for event in events:
        if event is None:
            yield sse.HEARTBEAT
        elif wanted_by_join(event.event, modes):
            yield sse.frame(event.event, event.data, event.wire_id if with_ids else None)
    await after_end(after, run_id)


def _run_headers(run: wire.Run, *, stateless: bool) -> dict[str, str]:
    tid, rid = run.ids()
    path = f"/threads/{tid}/runs/{rid}"
    return {
        "Content-Location": f"/runs/{rid}" if stateless else path,
        "Location": f"{path}/stream",
    }


async def _create_and_stream(request: Req, thread_id: uuid.UUID | None) -> Stream:
    stateless = thread_id is None
    body, run = await created(request, thread_id, waited=stateless)
    svc = services(request)
    tid, rid = run.ids()
    after = None
    if stateless and (body.on_completion or "delete") == "delete":

        async def after() -> None:
            await svc.runs.discard_temporary(tid)

    frames = _run_frames(
        svc,
        rid,
        Cursor(after=0),
        with_ids=bool(body.stream_resumable),
        after=after,
        new_run=True,
        watch=False,  # a run made to be streamed writes its events anyway
    )
    on_disconnect = None
    if body.on_disconnect == "cancel":
        on_disconnect = canceller(svc, await cancel_access(request, tid, rid), tid, rid)
    return sse.response(
        frames, headers=_run_headers(run, stateless=stateless), on_disconnect=on_disconnect
    )


@post("/threads/{thread_id:str}/runs/stream", status_code=200)
async def stream_run(request: Req, thread_id: str) -> Stream:
    return await _create_and_stream(request, parse_uuid(thread_id, "thread"))


@post("/runs/stream", status_code=200)
async def stream_stateless_run(request: Req) -> Stream:
    return await _create_and_stream(request, None)


def _query_modes(request: Req, *names: str) -> list[str]:
    """Mode query values: repeated keys, comma lists or a JSON array string (API.md §13)."""
    out: list[str] = []
    for name in names:
        for value in request.query_params.getall(name, []):
            value = value.strip()
            if value.startswith("["):
                try:
                    out.extend(str(v) for v in msgspec.json.decode(value))
                    continue
                except msgspec.DecodeError:
                    pass
            out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


async def _join(request: Req, thread_id: uuid.UUID | None, run_id: uuid.UUID) -> Stream:
    svc = services(request)
    acc = await authorize(request, "threads", "read", {"thread_id": thread_id, "run_id": run_id})
    run = await svc.runs.find(acc, thread_id, run_id)
    if run is None:
        # As the reference server: a stream holding one error event (the SDK yields it).
        async def missing() -> AsyncIterator[bytes]:
            yield sse.error_frame("HTTPException", "404: Run not found")

        return sse.response(missing(), headers={})
    tid = run.ids()[0]
    cursor = Cursor.parse(request.headers.get("last-event-id"))
    modes = run_mode_filter(_query_modes(request, "stream_mode"))
    on_disconnect = None
    if flag(request, "cancel_on_disconnect"):
        on_disconnect = canceller(svc, await cancel_access(request, tid, run_id), tid, run_id)
    kwargs = run.kwargs or {}
    with_ids = bool(kwargs.get("resumable"))
    # Only a run that writes its events while watched needs to know of this reader.
    watch = bool(kwargs.get("events_when_watched"))
    frames = _run_frames(svc, run_id, cursor, with_ids=with_ids, modes=modes, watch=watch)
    path = f"/threads/{tid}/runs/{run_id}"
    headers = {"Content-Location": path, "Location": f"{path}/stream"}
    return sse.response(frames, headers=headers, on_disconnect=on_disconnect)


@get("/threads/{thread_id:str}/runs/{run_id:str}/stream")
async def join_run_stream(request: Req, thread_id: str, run_id: str) -> Stream:
    return await _join(request, parse_uuid(thread_id, "thread"), parse_uuid(run_id, "run"))


@get("/runs/{run_id:str}/stream")
async def join_stateless_run_stream(request: Req, run_id: str) -> Stream:
    return await _join(request, None, parse_uuid(run_id, "run"))


@get("/threads/{thread_id:str}/stream")
async def thread_stream(request: Req, thread_id: str) -> Stream:
    tid = parse_uuid(thread_id, "thread")
    svc = services(request)
    modes = thread_modes(_query_modes(request, "stream_modes", "stream_mode"))
    cursor = Cursor.parse(request.headers.get("last-event-id"), strict=True)
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    await svc.threads.get(acc, tid)  # 404 before the stream starts

    async def frames() -> AsyncIterator[bytes]:
        async for event in svc.streams.thread_events(tid, cursor):
            if event is None:
                yield sse.HEARTBEAT
            elif wanted_by_thread(event, modes):
                yield sse.frame(event.event, event.data, event.wire_id)

    return sse.response(frames(), headers={"Content-Location": f"/threads/{tid}"})


ROUTES = [
    stream_run,
    stream_stateless_run,
    join_run_stream,
    join_stateless_run_stream,
    thread_stream,
]
