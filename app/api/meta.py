"""Health and server information (API.md §2.7)."""

from __future__ import annotations

import contextlib
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

from app.api.body import flag, json
from app.api.deps import services
from app.db import webhooks as delivery_rows
from app.db.models import WEBHOOK_STATUSES


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@get(["/ok", "/"], opt={"public": True})
async def ok(request: Request[Any, Any, Any]) -> Response[bytes]:
    if flag(request, "check_db"):
        try:
            async with services(request).pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except Exception as exc:  # the database is what we report on
            return json({"ok": False, "services": {"postgres": str(exc)}}, status_code=500)
        return json({"ok": True, "services": {"postgres": "ok"}})
    return json({"ok": True})


@get("/info", opt={"public": True})
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


METRICS_SQL = """
SELECT
  (SELECT count(*) FROM runs WHERE status IN ('pending', 'queued')) AS runs_pending,
  (SELECT count(*) FROM runs WHERE status = 'running') AS runs_running,
  (SELECT count(*) FROM runs WHERE status = 'pending' AND created_at <= now()) AS runs_due,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM runs
    WHERE status = 'pending' AND created_at <= now()) AS oldest_pending_seconds,
  (SELECT count(DISTINCT lease_owner) FROM runs WHERE status = 'running') AS workers_busy,
  (SELECT count(*) FROM threads WHERE status = 'busy') AS threads_busy,
  (SELECT count(*) FROM crons WHERE enabled) AS crons_enabled
"""


def cache_gauges(request: Request[Any, Any, Any]) -> dict[str, int]:
    """This process's in-memory caches (each bounded in bytes), and its resident memory."""
    svc = services(request)
    gauges = {f"recent_outcomes_{k}": v for k, v in svc.hub.cache_stats().items()}
    gauges.update({f"assistants_{k}": v for k, v in svc.runs.cache_stats().items()})
    with contextlib.suppress(OSError, ValueError, IndexError):  # /proc: Linux only
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        gauges["process_resident_bytes"] = pages * os.sysconf("SC_PAGE_SIZE")
    return gauges


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes] | Response[str]:
    """System metrics: the run queue and workers, as Prometheus text (format=json: JSON)."""
    async with services(request).pool.acquire() as conn:
        row = await conn.fetchrow(METRICS_SQL)
        outbox = await delivery_rows.counts(conn)
    values = {
        k: float(v) if k == "oldest_pending_seconds" else int(v) for k, v in dict(row).items()
    }
    for status in WEBHOOK_STATUSES:
        values[f"webhooks_{status}"] = outbox.get(status, 0)
    caches = cache_gauges(request)
    if request.query_params.get("format") == "json":
        return json({"queue": values, "caches": caches})
    lines = []
    for key, value in values.items():
        lines.append(f"# TYPE turnstile_{key} gauge")
        lines.append(f"turnstile_{key} {value}")
    for key, value in caches.items():
        lines.append(f"# TYPE turnstile_cache_{key} gauge")
        lines.append(f"turnstile_cache_{key} {value}")
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


ROUTES = [ok, info, metrics]
