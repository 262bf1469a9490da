"""The built-in console at ``/console``: its page (public: plain HTML, one JS and one CSS
file from ``app/console/static``, holding no data) and the read-only JSON it needs beyond the
public API, under ``/console/api/`` (behind the same auth and access door as the API).

The page calls the API with the token the user types (kept in sessionStorage). These routes
are their own route group (``console`` in ``app.main``), apart from the official
``http.disable_ui`` switch, which is about the official server's ``/ui``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Response as HTMLResponse

from app.api.assets import CONSOLE, CONSOLE_DIR, CONSOLE_ROUTES, page
from app.api.body import json
from app.api.deps import services
from app.auth.door import authorize
from app.core.ids import parse_uuid

Req = Request[Any, Any, Any]

TEMPLATE = (CONSOLE_DIR / "console.html").read_text()


@get("/console", opt={"public": True})
async def console_page(request: Req) -> HTMLResponse[str]:
    """The console: threads, runs and their timelines, live streams, state and history,
    the queue and busy threads, and a message box (HTML; its data comes from the API)."""
    body = page(
        TEMPLATE,
        request.scope.get("root_path", ""),
        auth="1" if request.app.state.get("authorizer") is not None else "0",
        js=CONSOLE["console.js"].etag,
        css=CONSOLE["console.css"].etag,
    )
    return HTMLResponse(body, media_type="text/html", headers={"Cache-Control": "no-cache"})


@get("/console/api/threads/{thread_id:str}/runs")
async def console_thread_runs(request: Req, thread_id: str) -> Response[bytes]:
    """A thread's latest runs with their timelines (queued, running, ended), attempts and
    lease owner, newest first (console)."""
    tid = parse_uuid(thread_id, "thread")
    acc = await authorize(request, "threads", "read", {"thread_id": tid})
    return json(await services(request).console.thread_runs(acc, tid))


@get("/console/api/runs/{run_id:str}")
async def console_run(request: Req, run_id: str) -> Response[bytes]:
    """One run's timeline, attempts and lease owner (console)."""
    rid = parse_uuid(run_id, "run")
    acc = await authorize(request, "threads", "read", {"thread_id": None, "run_id": rid})
    return json(await services(request).console.run(acc, rid))


@get("/console/api/queue")
async def console_queue(request: Req) -> Response[bytes]:
    """The run queue's depth and the busy threads: each one's active run, since when, on
    which worker, which attempt, how many runs wait behind it (console)."""
    value: dict[str, Any] = {
        "metadata": {},
        "values": {},
        "status": "busy",
        "limit": None,
        "offset": None,
    }
    acc = await authorize(request, "threads", "search", {**value, "ids": None})
    return json(await services(request).console.queue(acc))


ROUTES = [console_page, console_thread_runs, console_run, console_queue, *CONSOLE_ROUTES]
