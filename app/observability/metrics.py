"""Prometheus metrics of this process's events (``prometheus-client``), one function per
event, each called from the one place the event happens.

Processes of one host share their counts through prometheus-client's multiprocess mode:
``install(directory)`` (the CLI calls it before anything is counted) makes every metric a
file in ``directory`` (``TURNSTILE_METRICS_DIR`` or ``PROMETHEUS_MULTIPROC_DIR``; ``serve
--worker-processes N`` makes a private one for itself and its children), and a scrape of any
``serve`` process sums the files of all processes (``source()``). Without a directory the
values live in this process only. Facts of the database (queue depth, busy threads, the
webhook outbox) are not counted here: ``/metrics`` reads them at scrape time.

Names follow the official server where it has one (``lg_api_*``, latencies in
milliseconds as it records them); the rest are ``turnstile_*``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MS_BUCKETS = (
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    15000.0,
    30000.0,
    60000.0,
    120000.0,
    300000.0,
    600000.0,
    1800000.0,
    3600000.0,
)
"""Milliseconds: the official server's buckets (10 ms to 1 h), with a few finer ones."""

UNCOUNTED_ROUTES = frozenset({"/ok", "/info", "/metrics", "/docs", "/openapi.json"})
"""Routes the official server leaves out of its HTTP metrics (probes and docs)."""


class Metrics:
    """Every metric of this process, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.http_requests = Counter(
            "lg_api_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "path", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "lg_api_http_requests_latency",
            "HTTP request latency in milliseconds (until the response ends), by method and "
            "route template.",
            ["method", "path"],
            buckets=MS_BUCKETS,
            registry=r,
        )
        self.runs_created = Counter(
            "turnstile_runs_created_total",
            "Runs created (committed), by multitask strategy.",
            ["multitask_strategy"],
            registry=r,
        )
        self.runs_finished = Counter(
            "turnstile_runs_finished_total",
            "Runs a worker ended, by final status and multitask strategy.",
            ["status", "multitask_strategy"],
            registry=r,
        )
        self.run_duration = Histogram(
            "lg_api_run_execution_latency",
            "Milliseconds from a run's claim to its recorded end (its last attempt), by status.",
            ["status"],
            buckets=MS_BUCKETS,
            registry=r,
        )
        self.claims = Counter(
            "turnstile_run_claims_total",
            "Runs claimed by a worker: attempt=first, or retry (a recovery: a run whose "
            "earlier worker died or lost its lease, claimed again).",
            ["attempt"],
            registry=r,
        )
        self.queue_wait_first = Histogram(
            "lg_api_run_queue_wait_time_1st_attempt",
            "Milliseconds a run waited from creation (or its due time) to its first claim.",
            buckets=MS_BUCKETS,
            registry=r,
        )
        self.queue_wait_retry = Histogram(
            "lg_api_run_queue_wait_time_retry_attempt",
            "Milliseconds from a run's creation to a later claim (a recovery).",
            buckets=MS_BUCKETS,
            registry=r,
        )
        self.conflicts = Counter(
            "turnstile_conflicts_total",
            "409 answers, by domain error (ThreadBusy: a reject on a busy thread).",
            ["error"],
            registry=r,
        )
        self.lease_losses = Counter(
            "turnstile_lease_losses_total",
            "Attempts abandoned because their lease was no longer held.",
            registry=r,
        )
        self.db_retries = Counter(
            "turnstile_database_retries_total",
            "Database operations retried after a transient fault (backoff steps).",
            registry=r,
        )
        self.stream_events = Counter(
            "turnstile_stream_events_total",
            "Stream events runs produced (each written to run_events).",
            registry=r,
        )
        self.webhooks = Counter(
            "turnstile_webhook_deliveries_total",
            "Webhook POST outcomes: delivered, retry (to be sent again), failed (given up).",
            ["outcome"],
            registry=r,
        )
        self.workers_max = Gauge(
            "lg_api_workers_max",
            "Run slots of the worker pools (summed over live processes).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.workers_active = Gauge(
            "lg_api_workers_active",
            "Runs executing now (summed over live processes).",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.workers_available = Gauge(
            "lg_api_workers_available",
            "Free run slots (summed over live processes).",
            registry=r,
            multiprocess_mode="livesum",
        )


_current: Metrics | None = None
_directory: str | None = None
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
"""The labelled HTTP metrics by (method, route, status), looked up once each."""


def install(directory: str | None) -> None:
    """Where this process's metrics go, before anything is counted: the shared
    ``directory`` (multiprocess mode; this process's live gauges are removed at its exit),
    or this process only (None)."""
    global _current, _directory
    if directory:
        os.makedirs(directory, exist_ok=True)
        # prometheus-client reads the directory from the environment when it opens a file
        # (and chose its value class at import, perhaps before this): set both.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        atexit.register(mark_process_dead, os.getpid(), directory)
    _directory = directory or None
    _current = Metrics(CollectorRegistry(auto_describe=False))
    _http_children.clear()


@contextlib.contextmanager
def installed(shared: str | None, *, private: bool = False) -> Iterator[None]:
    """``install`` for a command: the ``shared`` directory (``TURNSTILE_METRICS_DIR``); with
    none and ``private`` (``serve --worker-processes``), a directory of its own that its
    children inherit (``PROMETHEUS_MULTIPROC_DIR``) and that is removed at the end; else
    this process only."""
    own = None
    if shared is None and private:
        own = tempfile.mkdtemp(prefix="turnstile-metrics-")
    install(shared or own)
    try:
        yield
    finally:
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def current() -> Metrics:
    """This process's metrics (in this process only, unless ``install`` said otherwise)."""
    global _current
    if _current is None:
        _current = Metrics(CollectorRegistry(auto_describe=False))
    return _current


def directory() -> str | None:
    """The shared directory of multiprocess mode, if installed."""
    return _directory


def source() -> Any:
    """What a scrape reads: every process's files in multiprocess mode, else this
    process's registry."""
    if _directory:
        return MultiProcessCollector(None, path=_directory)  # type: ignore[no-untyped-call]
    return current().registry


def process_dead(pid: int) -> None:
    """A child process ended: its live gauges (worker slots) no longer count."""
    if _directory:
        mark_process_dead(pid, _directory)  # type: ignore[no-untyped-call]


# --- the events ---------------------------------------------------------------------------


def http_request(method: str, path: str | None, status: int, seconds: float) -> None:
    """A request answered on a route (``path``: its template, as ``/threads/{thread_id}``)."""
    if not path or path in UNCOUNTED_ROUTES:
        return
    key = (method, path, status)
    children = _http_children.get(key)
    if children is None:  # few: routes x methods x statuses
        m = current()
        children = (
            m.http_requests.labels(method, path, str(status)),
            m.http_latency.labels(method, path),
        )
        _http_children[key] = children
    children[0].inc()
    children[1].observe(seconds * 1000)


def run_created(strategy: str) -> None:
    current().runs_created.labels(strategy).inc()


def run_claimed(attempt: int, queued_seconds: float) -> None:
    m = current()
    first = attempt <= 1
    m.claims.labels("first" if first else "retry").inc()
    wait = m.queue_wait_first if first else m.queue_wait_retry
    wait.observe(max(queued_seconds, 0.0) * 1000)


def run_finished(status: str, strategy: str, seconds: float) -> None:
    m = current()
    m.runs_finished.labels(status, strategy).inc()
    m.run_duration.labels(status).observe(seconds * 1000)


def conflict(error: str) -> None:
    current().conflicts.labels(error).inc()


def lease_lost() -> None:
    current().lease_losses.inc()


def database_retry() -> None:
    current().db_retries.inc()


def stream_event() -> None:
    current().stream_events.inc()


def webhook(outcome: str) -> None:
    current().webhooks.labels(outcome).inc()


def worker_slots(concurrency: int, active: int) -> None:
    """A worker pool's slots changed (started, a run began or ended, stopped: 0, 0)."""
    m = current()
    m.workers_max.set(concurrency)
    m.workers_active.set(active)
    m.workers_available.set(concurrency - active)
