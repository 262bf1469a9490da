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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client.core import Metric

from app.db import stats
from app.db.notify import Hub
from app.observability import exposition
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
        """The official server's gauge names (``lg_api_*``) read at scrape time, so existing
        dashboards work: the queue (all processes) and this process's connection pool.
        (Its ``lg_api_workers_*`` are counted: ``app.observability.metrics``.)"""
        out: dict[str, float | int] = {}
        if queue is not None:
            out["lg_api_num_pending_runs"] = queue["runs_pending"]
            out["lg_api_num_running_runs"] = queue["runs_running"]
            out["lg_api_pending_runs_wait_time_max"] = queue["oldest_waiting_seconds"]
            out["lg_api_pending_runs_wait_time_med"] = queue["median_waiting_seconds"]
            out["lg_api_pending_unblocked_runs_wait_time_max"] = queue["oldest_pending_seconds"]
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

    async def scrape(self) -> Scrape:
        """Everything ``/metrics`` shows that is read now rather than counted."""
        queue = await self.queue()
        listening = self.listening()
        return Scrape(
            queue=queue,
            health={
                "database_up": int(queue is not None and listening),
                "listen_up": int(listening),
            },
            loops=self.loops(),
            caches=self.caches(),
            official=self.official(queue),
        )


@dataclass
class Scrape:
    """What a scrape reads at once: the database's queue (None while it does not answer),
    this process's health, loops, caches and the official gauges."""

    queue: dict[str, float | int] | None
    health: dict[str, int]
    loops: dict[str, dict[str, Any]]
    caches: dict[str, int]
    official: dict[str, float | int]

    def families(self) -> list[Metric]:
        """As Prometheus families (``turnstile_*`` and ``lg_api_*`` gauges)."""
        out = [
            exposition.gauge(key, OFFICIAL_HELP.get(key, key), value)
            for key, value in self.official.items()
        ]
        for key, value in {**(self.queue or {}), **self.health}.items():
            about = GAUGE_HELP.get(key) or f"Webhook deliveries {key.removeprefix('webhooks_')}."
            out.append(exposition.gauge(f"turnstile_{key}", about, value))
        for key, kind in (("up", "gauge"), ("down_seconds", "gauge"), ("errors", "counter")):
            field = "errors_total" if key == "errors" else key
            out.append(
                exposition.labelled(
                    f"turnstile_loop_{key}",
                    LOOP_HELP[key],
                    "loop",
                    {name: values[field] for name, values in self.loops.items()},
                    counter=kind == "counter",
                )
            )
        for key, value in self.caches.items():
            out.append(exposition.gauge(f"turnstile_cache_{key}", f"this process's {key}", value))
        return out

    def as_json(self) -> dict[str, Any]:
        """``?format=json``: the official server's keys (``queue``'s ``n_pending``...,
        ``api.http_requests_total``, ``workers``, and the flat ``lg_api_*`` gauges) beside
        Turnstile's own (the queue's gauges, ``health``, ``loops``, ``caches``)."""
        queue: dict[str, Any] | None = None
        if self.queue is not None:
            waiting = self.queue["runs_pending"] > 0
            due = self.queue["runs_due"] > 0
            queue = {
                "n_pending": self.queue["runs_pending"],
                "n_running": self.queue["runs_running"],
                "pending_runs_wait_time_max_secs": self.queue["oldest_waiting_seconds"]
                if waiting
                else None,
                "pending_runs_wait_time_med_secs": self.queue["median_waiting_seconds"]
                if waiting
                else None,
                "pending_unblocked_runs_wait_time_max_secs": self.queue["oldest_pending_seconds"]
                if due
                else None,
                **self.queue,
            }
        counted = exposition.counted()
        workers = exposition.workers(counted)
        return {
            "queue": queue,
            "api": {"http_requests_total": exposition.http_requests(counted)},
            "workers": workers,
            "health": self.health,
            "loops": self.loops,
            "caches": self.caches,
            **{f"lg_api_workers_{k}": v for k, v in workers.items()},
            **self.official,
        }


OFFICIAL_HELP = {
    "lg_api_num_pending_runs": "Runs waiting to start (pending or queued), all processes.",
    "lg_api_num_running_runs": "Runs running now, all processes.",
    "lg_api_pending_runs_wait_time_max": "Seconds the oldest waiting run has waited.",
    "lg_api_pending_runs_wait_time_med": "Median seconds the waiting runs have waited.",
    "lg_api_pending_unblocked_runs_wait_time_max": (
        "Seconds the oldest claimable run (not queued behind another) has waited."
    ),
    "lg_api_pg_pool_max": "This process's connection pool: its maximum size.",
    "lg_api_pg_pool_size": "This process's connection pool: connections open.",
    "lg_api_pg_pool_available": "This process's connection pool: connections idle.",
}
GAUGE_HELP = {
    "runs_pending": "Runs waiting to start (pending or queued).",
    "runs_running": "Runs running.",
    "runs_due": "Pending runs that may be claimed now.",
    "oldest_pending_seconds": "Seconds the oldest claimable run has waited.",
    "oldest_waiting_seconds": "Seconds the oldest waiting run has waited.",
    "median_waiting_seconds": "Median seconds the waiting runs have waited.",
    "workers_busy": "Worker pools running at least one run.",
    "threads_busy": "Threads with an active run.",
    "crons_enabled": "Enabled crons.",
    "database_up": "1 when the database answered this scrape and LISTEN is connected.",
    "listen_up": "1 when this process's LISTEN connection is up.",
}
LOOP_HELP = {
    "up": "1 while this process's loop works.",
    "down_seconds": "Seconds this process's loop has been failing.",
    "errors": "Errors this process's loop has had.",
}
