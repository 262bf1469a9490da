"""Server-sent events (API.md §6.1-6.2): framing, headers, and the end of a stream.

Failures before a stream starts are raised by the controller and answered as JSON; once the
``text/event-stream`` response has started, a failure becomes an ``error`` event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from litestar.response import Stream

from app.core import jsonable

log = logging.getLogger("turnstile.api")

HEARTBEAT = b": heartbeat\r\n\r\n"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}
INTERNAL_ERROR = "An internal error occurred"

_background: set[asyncio.Task[Any]] = set()


def frame(event: str, data: str | bytes, event_id: str | None = None) -> bytes:
    """One SSE event; ``data`` is compact JSON (one line)."""
    if isinstance(data, str):
        data = data.encode()
    out = b"event: " + event.encode() + b"\r\ndata: " + data + b"\r\n"
    if event_id is not None:
        out += b"id: " + event_id.encode() + b"\r\n"
    return out + b"\r\n"


def error_frame(error: str, message: str) -> bytes:
    return frame("error", jsonable.dumps({"error": error, "message": message}))


def in_background(work: Awaitable[Any]) -> None:
    """Run ``work`` to completion even though the request that wanted it is gone."""

    async def run() -> None:
        try:
            await work
        except Exception as exc:  # the run may have ended meanwhile: nothing to do
            log.debug("background work after a disconnect: %r", exc)

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


def guarded(
    body: AsyncIterator[bytes],
    *,
    sse: bool,
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[bytes]:
    """``body``, plus: an ``error`` event if it fails mid-stream (SSE only), and
    ``on_disconnect`` started in the background if the client goes away before the end."""

    async def guarded_body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in body:
                yield chunk
            finished = True
        except Exception as exc:
            finished = True
            log.exception("stream failed: %r", exc)
            if sse:
                yield error_frame(type(exc).__name__, INTERNAL_ERROR)
        finally:
            if not finished and on_disconnect is not None:
                in_background(on_disconnect())

    return guarded_body()


def response(
    body: AsyncIterator[bytes],
    *,
    headers: dict[str, str],
    on_disconnect: Callable[[], Awaitable[Any]] | None = None,
) -> Stream:
    return Stream(
        guarded(body, sse=True, on_disconnect=on_disconnect),
        media_type="text/event-stream",
        headers={**HEADERS, **headers},
        status_code=200,
    )
