"""Health and server information (API.md §2.7)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Request, Response, get

from app.api.body import flag, json
from app.api.deps import services


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@get(["/ok", "/"])
async def ok(request: Request[Any, Any, Any]) -> Response[bytes]:
    if flag(request, "check_db"):
        try:
            async with services(request).pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # the database is what we report on
            return json({"ok": False, "services": {"postgres": str(exc)}}, status_code=500)
        return json({"ok": True, "services": {"postgres": "ok"}})
    return json({"ok": True})


@get("/info")
async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
    return json(
        {
            "version": _version("turnstile"),
            "langgraph_py_version": _version("langgraph"),
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


ROUTES = [ok, info]
