"""Settings: one frozen struct, built once in the entry point and passed down.

Nothing reads the environment at import time; ``Settings.from_env`` is called by the CLI,
and tests construct ``Settings(...)`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """PostgreSQL URL; None means: start the embedded server in ``data_dir``."""
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
    db_retry_seconds: float = 60.0
    """How long a running run rides out a database fault (connection lost, restart,
    outage, ``statement_timeout``, serialization failure) before it gives up: its batch
    writes and small reads are retried with backoff for up to this long from the first
    failure, and an attempt whose graph lost the database resumes from its last committed
    checkpoint. Past it the run ends ``error`` (``DatabaseUnavailable``), written as soon as
    the database answers again (``TURNSTILE_DB_RETRY_SECONDS``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Settings:
        """Settings from environment variables, then CLI flags (``overrides``, None = unset)."""
        values: dict[str, object] = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
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
        if env.get("TURNSTILE_POOL_SIZE"):
            values["pool_max_size"] = int(env["TURNSTILE_POOL_SIZE"])
        ttl = env.get("TURNSTILE_STREAM_TTL_SECONDS") or env.get("RESUMABLE_STREAM_TTL_SECONDS")
        if ttl:
            values["stream_ttl_seconds"] = float(ttl)
        for name, key, kind in (
            ("TURNSTILE_LEASE_SECONDS", "lease_seconds", float),
            ("TURNSTILE_MAX_ATTEMPTS", "max_attempts", int),
            ("TURNSTILE_RUN_TIMEOUT_SECONDS", "run_timeout_seconds", float),
            ("TURNSTILE_SHUTDOWN_GRACE_SECONDS", "shutdown_grace_seconds", float),
            ("TURNSTILE_MAX_BODY_BYTES", "max_body_bytes", int),
            ("TURNSTILE_DB_RETRY_SECONDS", "db_retry_seconds", float),
        ):
            if env.get(name):
                values[key] = kind(env[name])
        if env.get("TURNSTILE_WEBHOOK_ALLOW_PRIVATE"):
            values["webhook_allow_private"] = env["TURNSTILE_WEBHOOK_ALLOW_PRIVATE"].lower() in (
                "1",
                "true",
                "yes",
            )
        if env.get("LOG_LEVEL"):
            values["log_level"] = env["LOG_LEVEL"].lower()
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "config_path" not in values and Path("langgraph.json").is_file():
            values["config_path"] = "langgraph.json"
        return msgspec.convert(values, cls)
