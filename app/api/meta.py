"""Health and server information (API.md §2.7)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

from app.api.body import flag, json
from app.api.deps import Services, services
from app.db import webhooks as delivery_rows
from app.db.models import WEBHOOK_STATUSES

log = logging.getLogger("turnstile.api")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


DB_CHECK_SECONDS = 2.0
"""How long ``/ok?check_db=1`` and ``/metrics`` wait for the database before saying it is
unreachable (a health check must answer, not hang with the database)."""


def _problems(svc: Services) -> dict[str, Any]:
    """What is wrong with this process now: its loops that are down (since when, the last
    error), and the LISTEN connection if it is not up. Empty when healthy."""
    out: dict[str, Any] = {
        name: {"down_since": _iso(state.down_since), "error": state.last_error}
        for name, state in svc.hub.health.down().items()
    }
    if not svc.hub.connected and "listen" not in out:
        out["listen"] = {"down_since": None, "error": "not connected"}
    return out


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat()


async def _select_one(svc: Services) -> str:
    """``"ok"``, or why ``SELECT 1`` failed within ``DB_CHECK_SECONDS``."""
    try:
        async with asyncio.timeout(DB_CHECK_SECONDS):
            async with svc.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception as exc:  # the database is what we report on
        return f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return "ok"


@get(["/ok", "/"], opt={"public": True})
async def ok(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 ``{"ok": true}`` when this process works; 503 ``{"ok": false, "loops": ...}``
    while one of its loops is down or the database is unreachable (the LISTEN connection
    says so for free; ``check_db=1`` also runs ``SELECT 1``)."""
    svc = services(request)
    problems = _problems(svc)
    body: dict[str, Any] = {"ok": not problems}
    if problems:
        body["loops"] = problems
    if flag(request, "check_db"):
        postgres = await _select_one(svc)
        body["services"] = {"postgres": postgres}
        body["ok"] = body["ok"] and postgres == "ok"
    return json(body, status_code=200 if body["ok"] else 503)


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
    """System metrics as Prometheus text (format=json: JSON): the run queue, workers and
    webhook outbox (absent while the database does not answer), whether the database is
    reachable, each loop of this process (up, seconds down, errors so far), and its
    caches."""
    svc = services(request)
    queue: dict[str, float | int] | None = None
    try:
        async with asyncio.timeout(DB_CHECK_SECONDS):
            async with svc.pool.acquire() as conn:
                row = await conn.fetchrow(METRICS_SQL)
                outbox = await delivery_rows.counts(conn)
        queue = {
            k: float(v) if k == "oldest_pending_seconds" else int(v) for k, v in dict(row).items()
        }
        for status in WEBHOOK_STATUSES:
            queue[f"webhooks_{status}"] = outbox.get(status, 0)
    except Exception as exc:  # the gauges below say the database is unreachable
        log.warning("metrics: the queue query failed: %r", exc)
    now = time.time()
    loops = {
        name: {
            "up": int(state.down_since is None),
            "down_seconds": 0.0 if state.down_since is None else round(now - state.down_since, 3),
            "errors_total": state.errors_total,
        }
        for name, state in list(svc.hub.health.loops.items())
    }
    health = {
        "database_up": int(queue is not None and svc.hub.connected),
        "listen_up": int(svc.hub.connected),
    }
    caches = cache_gauges(request)
    if request.query_params.get("format") == "json":
        return json({"queue": queue, "health": health, "loops": loops, "caches": caches})
    lines = []
    for key, value in {**(queue or {}), **health}.items():
        lines.append(f"# TYPE turnstile_{key} gauge")
        lines.append(f"turnstile_{key} {value}")
    for key, kind in (("up", "gauge"), ("down_seconds", "gauge"), ("errors_total", "counter")):
        lines.append(f"# TYPE turnstile_loop_{key} {kind}")
        for name, values in loops.items():
            lines.append(f'turnstile_loop_{key}{{loop="{name}"}} {values[key]}')
    for key, value in caches.items():
        lines.append(f"# TYPE turnstile_cache_{key} gauge")
        lines.append(f"turnstile_cache_{key} {value}")
    return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


ROUTES = [ok, info, metrics]
