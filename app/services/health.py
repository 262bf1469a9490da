"""How this process is doing (API.md §2.7): its loops, the LISTEN connection, the database,
the run queue and its in-memory caches, for ``/ok`` and ``/metrics``.

A health check must answer, not hang with the database: every database read here gives up
after ``DB_CHECK_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import time
from pathlib import Path
from typing import Any

import asyncpg

from app.db import stats
from app.db.notify import Hub
from app.services.runs import RunService

log = logging.getLogger("turnstile.api")

DB_CHECK_SECONDS = 2.0
"""How long ``/ok?check_db=1`` and ``/metrics`` wait for the database before saying it is
unreachable."""


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat()


class HealthService:
    def __init__(self, pool: asyncpg.Pool[Any], hub: Hub, runs: RunService) -> None:
        self.pool = pool
        self.hub = hub
        self.runs = runs
        self.workers: Any = None
        """This process's worker pool, once started (``serve`` without worker processes)."""

    def problems(self) -> dict[str, Any]:
        """What is wrong with this process now: its loops that are down (since when, the last
        error), and the LISTEN connection if it is not up. Empty when healthy."""
        out: dict[str, Any] = {
            name: {"down_since": _iso(state.down_since), "error": state.last_error}
            for name, state in self.hub.health.down().items()
        }
        if not self.hub.connected and "listen" not in out:
            out["listen"] = {"down_since": None, "error": "not connected"}
        return out

    async def database(self) -> str:
        """``"ok"``, or why a round trip to the database failed within ``DB_CHECK_SECONDS``."""
        try:
            async with asyncio.timeout(DB_CHECK_SECONDS):
                async with self.pool.acquire() as conn:
                    await stats.ping(conn)
        except Exception as exc:  # the database is what we report on
            return (
                f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
            )
        return "ok"

    async def queue(self) -> dict[str, float | int] | None:
        """The run queue, workers and webhook outbox (``db.stats.queue``); None while the
        database does not answer within ``DB_CHECK_SECONDS``."""
        try:
            async with asyncio.timeout(DB_CHECK_SECONDS):
                async with self.pool.acquire() as conn:
                    return await stats.queue(conn)
        except Exception as exc:  # the gauges say the database is unreachable
            log.warning("metrics: the queue query failed: %r", exc)
            return None

    def loops(self) -> dict[str, dict[str, Any]]:
        """Each loop of this process: up (1/0), seconds down, errors so far."""
        now = time.time()
        return {
            name: {
                "up": int(state.down_since is None),
                "down_seconds": 0.0
                if state.down_since is None
                else round(now - state.down_since, 3),
                "errors_total": state.errors_total,
            }
            for name, state in list(self.hub.health.loops.items())
        }

    def listening(self) -> bool:
        """Whether the LISTEN connection is up."""
        return self.hub.connected

    def official(self, queue: dict[str, float | int] | None) -> dict[str, float | int]:
        """The official server's gauge names (``lg_api_*``), so existing dashboards work: the
        queue (all processes), this process's workers and its connection pool."""
        out: dict[str, float | int] = {}
        if queue is not None:
            out["lg_api_num_pending_runs"] = queue["runs_pending"]
            out["lg_api_num_running_runs"] = queue["runs_running"]
            out["lg_api_pending_runs_wait_time_max"] = queue["oldest_pending_seconds"]
        workers = self.workers
        if workers is not None:
            active = workers.active
            out["lg_api_workers_max"] = workers.concurrency
            out["lg_api_workers_active"] = active
            out["lg_api_workers_available"] = workers.concurrency - active
        out["lg_api_pg_pool_max"] = self.pool.get_max_size()
        out["lg_api_pg_pool_size"] = self.pool.get_size()
        out["lg_api_pg_pool_available"] = self.pool.get_idle_size()
        return out

    def caches(self) -> dict[str, int]:
        """This process's in-memory caches (each bounded in bytes), and its resident memory."""
        gauges = {f"recent_outcomes_{k}": v for k, v in self.hub.cache_stats().items()}
        gauges.update({f"assistants_{k}": v for k, v in self.runs.cache_stats().items()})
        with contextlib.suppress(OSError, ValueError, IndexError):  # /proc: Linux only
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            gauges["process_resident_bytes"] = pages * os.sysconf("SC_PAGE_SIZE")
        return gauges
