"""Health and server information (API.md §2.7)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from app.api.body import flag, json
from app.api.deps import services
from app.core.versions import installed
from app.observability import exposition


@get(["/ok", "/"], opt={"public": True})
async def ok(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 ``{"ok": true}`` when this process works; 503 ``{"ok": false, "loops": ...}``
    while one of its loops is down or the database is unreachable (the LISTEN connection
    says so for free; ``check_db=1`` also makes a round trip to the database)."""
    health = services(request).health
    problems = health.problems()
    body: dict[str, Any] = {"ok": not problems}
    if problems:
        body["loops"] = problems
    if flag(request, "check_db"):
        postgres = await health.database()
        body["services"] = {"postgres": postgres}
        body["ok"] = body["ok"] and postgres == "ok"
    return json(body, status_code=200 if body["ok"] else 503)


@get("/info", opt={"public": True})
async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
    return json(
        {
            "version": installed("turnstile"),
            "langgraph_py_version": installed("langgraph"),
            "flags": {
                "assistants": True,
                "crons": True,
                "store": True,
                "strict_resume": True,
                "langsmith": False,
                "langsmith_tracing_replicas": False,
                "langsmith_tracing_session_on_runs": False,
            },
            "host": {
                "kind": "self-hosted",
                "project_id": None,
                "host_revision_id": None,
                "revision_id": None,
                "tenant_id": None,
            },
            "server": "turnstile",
            "graphs": services(request).registry.ids,
        }
    )


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """System metrics as Prometheus text (format=json: the official server's JSON): what
    the processes counted (runs, HTTP requests, claims, leases, webhooks...; all of this
    host's processes in multiprocess mode), and what is read now: the run queue, workers and
    webhook outbox (absent while the database does not answer), whether the database is
    reachable, each loop of this process (up, seconds down, errors so far), its pool and
    its caches."""
    scrape = await services(request).health.scrape()
    if request.query_params.get("format") == "json":
        return json(scrape.as_json())
    return Response(exposition.text(scrape.families()), media_type=exposition.CONTENT_TYPE)


ROUTES = [ok, info, metrics]
