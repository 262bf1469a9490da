"""Command line: ``turnstile serve``, ``turnstile worker`` and ``turnstile db ...``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import msgspec

from app.logs import configure_logging
from app.settings import Settings

if TYPE_CHECKING:
    from app.graphs.config import GraphsConfig


def _exit_cleanly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _progress(message: str) -> None:
    print(f"turnstile: {message}", file=sys.stderr, flush=True)


def database_problem(settings: Settings) -> bool:
    """Print why the database settings cannot work, if they cannot (the command then stops
    with exit code 2 before it does anything). With ``pooler=auto`` and no direct URL,
    DATABASE_URL is probed first: a server that refuses a startup parameter PostgreSQL
    accepts is a pooler (pgbouncer), and then the direct URL is missing."""
    if settings.pooler == "auto" and settings.database_url and not settings.direct_database_url:
        import asyncio

        from app.db.pool import refuses_startup_parameters

        if asyncio.run(refuses_startup_parameters(settings.database_url)):
            _progress(
                "DATABASE_URL refused a startup parameter that PostgreSQL accepts: "
                "a transaction-mode pooler (pgbouncer) is in front of it"
            )
            settings = msgspec.structs.replace(settings, pooler="transaction")
    problem = settings.database_problem()
    if problem is not None:
        _progress(problem)
    return problem is not None


def migration_url(settings: Settings, url: str) -> str:
    """Where migrations run: the direct URL if set (they hold a session-level advisory
    lock, which a transaction-mode pooler would not keep on one server connection)."""
    return settings.direct_database_url or url


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL to use: DATABASE_URL (one host or several: asyncpg picks the one
    that matches ``target_session_attrs``), or an embedded server started (and stopped)
    here, in ``settings.data_dir`` or the per-user default data directory."""
    if settings.database_url:
        yield settings.database_url
        return
    from app.db.embedded import EmbeddedPostgres
    from app.db.embedded_install import default_data_dir

    data_dir = Path(settings.data_dir) if settings.data_dir else default_data_dir()
    server = EmbeddedPostgres(data_dir, progress=_progress)
    server.start()
    try:
        server.ensure_database("turnstile")
        yield server.url("turnstile")
    finally:
        server.stop()


@contextlib.contextmanager
def migrated(settings: Settings) -> Iterator[str]:
    """``database(settings)``, migrated first unless ``--no-migrate``."""
    with database(settings) as url:
        if settings.migrate:
            from app.db import migrate

            _progress("applying migrations")
            migrate.upgrade(migration_url(settings, url))
        yield url


def graph_config(settings: Settings) -> GraphsConfig:
    """The config file's graphs, with its environment applied to this process. Raises
    ConfigError naming every key and variable of the official server's that this
    deployment sets and Turnstile does not honour (app/official_config.py), or a bad value."""
    from app import official_config
    from app.graphs.config import ConfigError, apply_environment, load_config
    from app.policies import Policies

    config = load_config(settings.config_path)
    problems = official_config.config_problems(config.raw)
    problems += official_config.env_problems(os.environ)
    if problems:
        raise ConfigError(
            "this deployment asks for what Turnstile does not do "
            "(README: 'Coming from the official server'):\n  - " + "\n  - ".join(problems)
        )
    policies = Policies.of(config.raw)  # its values, checked before anything starts
    if policies.store_index is not None:
        from app.store.index import StoreIndex

        StoreIndex(policies.store_index, config.base_dir)  # the embedding function loads
    build = official_config.build_keys(config.raw)
    if build:
        _progress(f"langgraph.json: {', '.join(build)}: image build settings, not used by serve")
    apply_environment(config)
    return config


GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(settings: Settings) -> int:
    import uvicorn

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Streams never end on their own (a thread stream is endless): end them now, so
            # the graceful shutdown does not wait for them; clients reconnect elsewhere.
            process = app.state.get("process")
            if process is not None:
                process.drain_threadsafe()
            super().handle_exit(sig, frame)

    from app.api.http_limits import HttpLimits, protocol_class
    from app.graphs.registry import GraphRegistry
    from app.main import served_app
    from app.observability import metrics
    from app.worker.children import worker_processes

    if database_problem(settings):
        return 2
    config = graph_config(settings)
    with (
        metrics.installed(settings.metrics_dir, private=settings.worker_processes > 0),
        migrated(settings) as url,
        worker_processes(settings, url) as in_process,
    ):
        registry = GraphRegistry.load(config)
        _progress(f"graphs: {', '.join(registry.ids)}")
        app = served_app(
            msgspec.structs.replace(settings, database_url=url, workers=in_process), registry
        )
        server = _Server(
            uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                loop="uvloop" if sys.platform != "win32" else "asyncio",
                http=protocol_class(
                    HttpLimits(
                        max_header_bytes=settings.max_header_bytes,
                        max_request_line_bytes=settings.max_request_line_bytes,
                        header_timeout=settings.header_timeout_seconds,
                        keepalive_max_requests=settings.keepalive_max_requests,
                        max_connections=settings.max_connections,
                    )
                ),
                timeout_keep_alive=settings.keepalive_timeout_seconds,  # type: ignore[arg-type]
                # uvicorn answers 503 from this many; our protocol closes past the cap.
                limit_concurrency=settings.max_connections + 1
                if settings.max_connections
                else None,
                lifespan="on",
                # JSON lines: uvicorn's records go through the root logger's formatter too.
                log_config=None if settings.log_json else uvicorn.config.LOGGING_CONFIG,
                access_log=False,  # ours: turnstile.access (app.api.observed)
                # Waits and joins still open after this long are cut; their clients retry.
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            )
        )
        _progress(f"serving on http://{settings.host}:{settings.port}")
        # uvicorn re-raises the signal after its graceful shutdown; exit normally instead,
        # so the embedded database is stopped by the context manager.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _exit_cleanly)
        server.run()
    return 0


def work(settings: Settings) -> int:
    """``turnstile worker``: workers only, until SIGTERM/SIGINT."""
    import asyncio

    import uvloop

    from app.graphs.registry import GraphRegistry
    from app.observability import metrics
    from app.policies import Policies
    from app.worker.process import run_worker

    if database_problem(settings):
        return 2
    config = graph_config(settings)
    with metrics.installed(settings.metrics_dir), migrated(settings) as url:
        registry = GraphRegistry.load(config)
        _progress(f"worker: graphs {', '.join(registry.ids)}, {settings.workers} jobs")
        uvloop.install()
        asyncio.run(run_worker(settings, url, registry, Policies.of(config.raw)))
    return 0


def db_command(settings: Settings, action: str, revision: str | None) -> int:
    from app.db import migrate

    if database_problem(settings):
        return 2
    with database(settings) as url:
        url = migration_url(settings, url)
        if action == "upgrade":
            migrate.upgrade(url, revision or "head")
        elif action == "downgrade":
            if not revision:
                print("turnstile db downgrade needs a revision (e.g. -1 or base)", file=sys.stderr)
                return 2
            migrate.downgrade(url, revision)
        elif action == "current":
            migrate.current(url)
        else:
            migrate.history(url)
    return 0


def store_command(settings: Settings) -> int:
    """``turnstile store reindex``: every item embedded again with langgraph.json's
    ``store.index`` (after its model, size or fields changed)."""
    import asyncio

    from app.db.pool import create_pool
    from app.policies import Policies
    from app.store.index import StoreIndex, reindex

    if database_problem(settings):
        return 2
    config = graph_config(settings)
    index_config = Policies.of(config.raw).store_index
    if index_config is None:
        print("turnstile store reindex: langgraph.json has no store.index", file=sys.stderr)
        return 2
    index = StoreIndex(index_config, config.base_dir)

    async def run(url: str) -> int:
        pool = await create_pool(url, min_size=1, max_size=2, pooler=settings.pooled)
        try:
            return await reindex(pool, index)
        finally:
            await pool.close()

    with migrated(settings) as url:
        done = asyncio.run(run(url))
    _progress(f"store reindex: {done} items embedded ({index_config.dims} dimensions)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="turnstile", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP API and the in-process workers")
    s.add_argument(
        "--config", help="path of langgraph.json (default: ./langgraph.json or the demo)"
    )
    s.add_argument("--host", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8123)")
    s.add_argument("--workers", type=int, help="concurrent runs per worker (default 10)")
    s.add_argument(
        "--worker-processes",
        type=int,
        help="worker processes started beside the API (default 0: runs in this process)",
    )
    s.add_argument("--data-dir", help="embedded PostgreSQL data directory")
    s.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    s.add_argument(
        "--no-worker", action="store_true", help="serve the API only (same as --workers 0)"
    )
    w = sub.add_parser("worker", help="run workers only (no HTTP), to scale out")
    w.add_argument(
        "--config", help="path of langgraph.json (default: ./langgraph.json or the demo)"
    )
    w.add_argument("--jobs", type=int, help="concurrent runs in this process (default 10)")
    w.add_argument("--data-dir", help="embedded PostgreSQL data directory")
    w.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    st = sub.add_parser("store", help="the store's semantic index")
    st.add_argument("action", choices=["reindex"], help="embed every item again (store.index)")
    st.add_argument(
        "--config", help="path of langgraph.json (default: ./langgraph.json or the demo)"
    )
    st.add_argument("--data-dir", help="embedded PostgreSQL data directory")
    d = sub.add_parser("db", help="database migrations (Alembic)")
    d.add_argument("action", choices=["upgrade", "downgrade", "current", "history"])
    d.add_argument("revision", nargs="?", help="target revision (upgrade: default head)")
    d.add_argument("--data-dir", help="embedded PostgreSQL data directory")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line; a configuration that cannot work stops it with exit code 2 and a
    message naming what is wrong."""
    from app.graphs.config import ConfigError

    try:
        return _main(argv)
    except ConfigError as exc:
        print(f"turnstile: error: {exc}", file=sys.stderr, flush=True)
        return 2


def _settings(**flags: Any) -> Settings:
    """Settings from the environment and the flags; a bad value is a ConfigError (the
    command stops naming it), not a traceback."""
    from app.graphs.config import ConfigError

    try:
        settings = Settings.from_env(os.environ, **flags)
    except (ValueError, msgspec.ValidationError) as exc:
        raise ConfigError(str(exc)) from None
    try:
        configure_logging(settings)
    except ValueError as exc:  # an unknown LOG_LEVEL
        raise ConfigError(f"LOG_LEVEL: {exc}") from None
    return settings


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == "db":
        return db_command(_settings(data_dir=args.data_dir), args.action, args.revision)
    if args.command == "store":
        return store_command(_settings(config_path=args.config, data_dir=args.data_dir))
    flags: dict[str, Any]
    if args.command == "serve":
        flags = {
            "host": args.host,
            "port": args.port,
            "workers": 0 if args.no_worker else args.workers,
            "worker_processes": args.worker_processes,
        }
    else:
        flags = {"workers": args.jobs}
    settings = _settings(
        config_path=args.config,
        data_dir=args.data_dir,
        migrate=False if args.no_migrate else None,
        **flags,
    )
    if settings.traces:
        from app.graphs.config import ConfigError
        from app.observability import tracing

        try:
            tracing.start(os.environ)
        except tracing.TracingUnavailable as exc:
            raise ConfigError(str(exc)) from None
    return serve(settings) if args.command == "serve" else work(settings)


if __name__ == "__main__":
    raise SystemExit(main())
