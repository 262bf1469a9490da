"""Settings: one frozen struct, built once in the entry point and passed down.

Nothing reads the environment at import time; ``Settings.from_env`` is called by the CLI,
and tests construct ``Settings(...)`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec

POOLER_MODES = ("auto", "transaction", "none")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """PostgreSQL URL; None means: start the embedded server in ``data_dir``. May name
    several hosts (``h1:p1,h2:p2``, with ``target_session_attrs=read-write``)."""
    pooler: Literal["auto", "transaction", "none"] = "auto"
    """Whether ``database_url`` goes through a transaction-mode pooler (pgbouncer
    ``pool_mode=transaction`` and the like): ``auto`` means yes when a different
    ``direct_database_url`` is given, or when the CLI's probe finds a pgbouncer (see
    ``pooled``)."""
    direct_database_url: str | None = None
    """A URL that reaches PostgreSQL itself, not through the pooler: for what needs a
    session of its own (LISTEN, the migrations' advisory lock). Required in pooler mode."""
    host: str = "127.0.0.1"
    port: int = 8123
    config_path: str | None = None
    """Path of langgraph.json; None means the bundled demo graph."""
    workers: int = 10
    """Concurrent runs per worker: in ``serve``'s own process, or in each of its worker
    processes (``worker_processes``)."""
    worker_processes: int = 0
    """Worker processes ``serve`` starts beside the API (0: runs execute in the API's own
    event loop). With 1 or more, runs leave the API's loop, and a second core, free."""
    migrate: bool = True
    """Apply migrations at start."""
    data_dir: str | None = None
    """Data directory of the embedded PostgreSQL (None: the per-user default)."""
    pool_min_size: int = 2
    pool_max_size: int = 20
    log_level: str = "info"
    log_json: bool = False
    """One JSON object per log line (``LOG_JSON``)."""
    allow_private_network: bool = False
    """Answer CORS preflights that ask for it with ``Access-Control-Allow-Private-Network:
    true`` (``ALLOW_PRIVATE_NETWORK``): browsers then let public pages call this server on a
    private address."""
    stream_ttl_seconds: float = 120.0
    """How long a run's stream events are kept after it ends (Last-Event-ID replay window)."""
    lease_seconds: float = 30.0
    """A claimed run's lease; renewed every third of it by a heartbeat thread."""
    max_attempts: int = 3
    """Claims of one run before it ends ``error`` (a run whose worker keeps dying)."""
    run_timeout_seconds: float = 0.0
    """A run still going after this long ends ``timeout`` (0: no limit)."""
    shutdown_grace_seconds: float = 10.0
    """On SIGTERM, how long running runs may finish before they are handed back."""
    max_body_bytes: int = 10 * 1024 * 1024
    """Request bodies larger than this answer 413."""
    webhook_allow_private: bool = False
    """Allow webhooks to loopback and private addresses (refused by default)."""
    webhook_max_attempts: int = 10
    """POSTs of one webhook before its delivery is ``failed`` (errors, 5xx, 429)."""
    webhook_backoff_seconds: float = 1.0
    """The first retry's delay; each further one doubles (jittered, at most 10 min)."""
    webhook_timeout_seconds: float = 10.0
    """One webhook POST gives up after this long."""
    max_header_bytes: int = 64 * 1024
    """Request headers (names and values) larger than this in all answer 431."""
    max_request_line_bytes: int = 16 * 1024
    """A request whose request line (method, path, query) is longer answers 414."""
    header_timeout_seconds: float = 10.0
    """A client must finish sending a request's head this long after it connected (or
    after the head's first byte, on a kept-alive connection): else the connection is
    closed (slowloris)."""
    keepalive_timeout_seconds: float = 75.0
    """An idle keep-alive connection is closed after this long. Longer than the clients'
    and proxies' own idle limits (httpx, so both SDKs' Python side: 5 s; load balancers:
    60 s), so that they drop an idle connection first: a server that closes it first races
    a request the client is sending on it, which then fails with a connection reset."""
    keepalive_max_requests: int = 1000
    """A keep-alive connection is closed after this many requests (0: no limit)."""
    max_connections: int = 2048
    """Open connections at once; past that a new request answers 503 (0: no limit)."""
    metrics_dir: str | None = None
    """A directory the processes of one host share their metrics in (prometheus-client's
    multiprocess mode): a scrape of any ``serve`` shows the counts of every process that
    writes there (``TURNSTILE_METRICS_DIR`` or ``PROMETHEUS_MULTIPROC_DIR``). None: this
    process only (``serve --worker-processes`` then makes a private one for its children)."""
    traces: bool = False
    """OpenTelemetry traces (the ``otel`` extra): ``TURNSTILE_OTEL`` or the official
    ``OTEL_ENABLED``; when neither is set, on when an OTLP endpoint is
    (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)."""
    db_retry_seconds: float = 60.0
    """How long a running run rides out a database fault (connection lost, restart,
    outage, ``statement_timeout``, serialization failure) before it gives up: its batch
    writes and small reads are retried with backoff for up to this long from the first
    failure, and an attempt whose graph lost the database resumes from its last committed
    checkpoint. Past it the run ends ``error`` (``DatabaseUnavailable``), written as soon as
    the database answers again (``TURNSTILE_DB_RETRY_SECONDS``)."""

    @property
    def pooled(self) -> bool:
        """Whether ``database_url`` is taken to go through a transaction-mode pooler. With
        ``auto``: yes when a direct URL other than ``database_url`` is set (an operator gives
        a second URL only because the first cannot do everything). Without one, the CLI
        probes DATABASE_URL (``app.db.pool.refuses_startup_parameters``): a pgbouncer that
        refuses a startup parameter is found, and the command stops for want of the direct
        URL; a pooler that accepts startup parameters cannot be told from PostgreSQL, so it
        must be declared (``transaction``)."""
        if self.pooler == "auto":
            direct = self.direct_database_url
            return direct is not None and direct != self.database_url
        return self.pooler == "transaction"

    def database_problem(self) -> str | None:
        """Why these database settings cannot work (the commands stop with it), or None.
        A setting that cannot be honoured is never silently ignored."""
        if self.database_url is None and (self.pooler == "transaction" or self.direct_database_url):
            which = (
                "TURNSTILE_DATABASE_POOLER=transaction"
                if self.pooler == "transaction"
                else "TURNSTILE_DIRECT_DATABASE_URL"
            )
            return f"{which} needs DATABASE_URL (the embedded PostgreSQL has no pooler in front)"
        if self.pooled and not self.direct_database_url:
            return (
                "TURNSTILE_DATABASE_POOLER=transaction needs TURNSTILE_DIRECT_DATABASE_URL: "
                "LISTEN/NOTIFY and the migrations' advisory lock need a session of their own, "
                "which a transaction-mode pooler does not keep; set it to a URL that reaches "
                "PostgreSQL directly, not through the pooler"
            )
        return None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from environment variables, then CLI flags (``overrides``, None = unset)."""
        values: dict[str, object] = {}
        url = database_url_of(env)
        if url:
            values["database_url"] = url
        if env.get("TURNSTILE_DIRECT_DATABASE_URL"):
            values["direct_database_url"] = env["TURNSTILE_DIRECT_DATABASE_URL"]
        if env.get("TURNSTILE_DATABASE_POOLER"):
            mode = env["TURNSTILE_DATABASE_POOLER"].strip().lower()
            if mode not in POOLER_MODES:
                raise ValueError(
                    f"TURNSTILE_DATABASE_POOLER is one of {', '.join(POOLER_MODES)}, not {mode!r}"
                )
            values["pooler"] = mode
        if env.get("TURNSTILE_HOST"):
            values["host"] = env["TURNSTILE_HOST"]
        if env.get("PORT"):
            values["port"] = int(env["PORT"])
        if env.get("LANGGRAPH_CONFIG"):
            values["config_path"] = env["LANGGRAPH_CONFIG"]
        if env.get("N_JOBS_PER_WORKER"):
            values["workers"] = int(env["N_JOBS_PER_WORKER"])
        if env.get("TURNSTILE_WORKERS"):
            values["workers"] = int(env["TURNSTILE_WORKERS"])
        if env.get("TURNSTILE_WORKER_PROCESSES"):
            values["worker_processes"] = int(env["TURNSTILE_WORKER_PROCESSES"])
        if env.get("TURNSTILE_DATA_DIR"):
            values["data_dir"] = env["TURNSTILE_DATA_DIR"]
        pool_size = env.get("TURNSTILE_POOL_SIZE") or env.get("LANGGRAPH_POSTGRES_POOL_MAX_SIZE")
        if pool_size:
            values["pool_max_size"] = int(pool_size)
        if _flag(env.get("BG_JOB_ISOLATED_LOOPS")) and not env.get("TURNSTILE_WORKER_PROCESSES"):
            values["worker_processes"] = 1
        ttl = env.get("TURNSTILE_STREAM_TTL_SECONDS") or env.get("RESUMABLE_STREAM_TTL_SECONDS")
        if ttl:
            values["stream_ttl_seconds"] = float(ttl)
        for name, key, kind in (
            # The official server's names first: ours, when both are set, win.
            ("BG_JOB_MAX_RETRIES", "max_attempts", int),
            ("BG_JOB_TIMEOUT_SECS", "run_timeout_seconds", float),
            ("BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS", "shutdown_grace_seconds", float),
            ("HTTP_MAX_REQUEST_BODY_BYTES", "max_body_bytes", int),
            ("TURNSTILE_LEASE_SECONDS", "lease_seconds", float),
            ("TURNSTILE_MAX_ATTEMPTS", "max_attempts", int),
            ("TURNSTILE_RUN_TIMEOUT_SECONDS", "run_timeout_seconds", float),
            ("TURNSTILE_SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds", float),
            ("TURNSTILE_MAX_BODY_BYTES", "max_body_bytes", int),
            ("TURNSTILE_WEBHOOK_MAX_ATTEMPTS", "webhook_max_attempts", int),
            ("TURNSTILE_WEBHOOK_BACKOFF_SECONDS", "webhook_backoff_seconds", float),
            ("TURNSTILE_WEBHOOK_TIMEOUT_SECONDS", "webhook_timeout_seconds", float),
            ("TURNSTILE_MAX_HEADER_BYTES", "max_header_bytes", int),
            ("TURNSTILE_MAX_REQUEST_LINE_BYTES", "max_request_line_bytes", int),
            ("TURNSTILE_HEADER_TIMEOUT_SECONDS", "header_timeout_seconds", float),
            ("TURNSTILE_KEEPALIVE_TIMEOUT_SECONDS", "keepalive_timeout_seconds", float),
            ("TURNSTILE_KEEPALIVE_MAX_REQUESTS", "keepalive_max_requests", int),
            ("TURNSTILE_MAX_CONNECTIONS", "max_connections", int),
            ("TURNSTILE_DB_RETRY_SECONDS", "db_retry_seconds", float),
        ):
            if env.get(name):
                values[key] = kind(env[name])
        if env.get("TURNSTILE_WEBHOOK_ALLOW_PRIVATE"):
            values["webhook_allow_private"] = _flag(env["TURNSTILE_WEBHOOK_ALLOW_PRIVATE"])
        metrics_dir = env.get("TURNSTILE_METRICS_DIR") or env.get("PROMETHEUS_MULTIPROC_DIR")
        if metrics_dir:
            values["metrics_dir"] = metrics_dir
        otel = env.get("TURNSTILE_OTEL") or env.get("OTEL_ENABLED")
        if otel:
            values["traces"] = _flag(otel)
        elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ):
            values["traces"] = True
        if env.get("LOG_JSON"):
            values["log_json"] = _flag(env["LOG_JSON"])
        if env.get("ALLOW_PRIVATE_NETWORK"):
            values["allow_private_network"] = _flag(env["ALLOW_PRIVATE_NETWORK"])
        if env.get("LOG_LEVEL"):
            values["log_level"] = env["LOG_LEVEL"].lower()
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "config_path" not in values and Path("langgraph.json").is_file():
            values["config_path"] = "langgraph.json"
        return msgspec.convert(values, cls)


DATABASE_URL_NAMES = ("DATABASE_URL", "DATABASE_URI", "POSTGRES_URI_CUSTOM", "POSTGRES_URI")
"""Ours, then the official server's names for the PostgreSQL URL."""


def database_url_of(env: Mapping[str, str]) -> str | None:
    """The PostgreSQL URL the environment gives, under any of its names; two names giving
    different URLs is an error (which one was meant cannot be guessed)."""
    given = {name: env[name].strip() for name in DATABASE_URL_NAMES if env.get(name, "").strip()}
    if len(set(given.values())) > 1:
        raise ValueError(f"{' and '.join(given)} give different database URLs: set one of them")
    return next(iter(given.values()), None)


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")
