"""The Litestar application: lifespan (pool, checkpointer, graphs), routes, error handlers."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware

from app.api import assistants, crons, meta, openapi, runs, store, streams, threads
from app.api.deps import Services
from app.api.errors import EXCEPTION_HANDLERS
from app.api.http_config import cors_config, header_policy
from app.api.middleware import Authentication, add_request_id
from app.auth.handlers import Authorizer, load_auth
from app.checkpoint.saver import PostgresSaver
from app.db.notify import Hub
from app.db.pool import create_pool
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.services.assistants import AssistantService
from app.services.crons import CronService
from app.services.runs import RunService
from app.services.state import StateService
from app.services.streams import StreamService
from app.services.threads import ThreadService
from app.settings import Settings
from app.store.postgres import PostgresStore
from app.worker.executor import Executor
from app.worker.pool import WorkerPool
from app.worker.webhooks import WebhookSender


def tune_gc() -> None:
    """Once started: move everything allocated so far (modules, graphs, the app) out of the
    cyclic collector's sight (``gc.freeze``), and collect the young generation less often.
    A run allocates thousands of short-lived objects; with the defaults the collector keeps
    re-walking the whole heap, pausing the event loop (for every request and run) for up
    to tens of milliseconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


GC_THRESHOLD = 20_000


def worker_pool(
    settings: Settings,
    database_url: str,
    pool: Any,
    graphs: GraphRegistry,
    saver: PostgresSaver,
    hub: Hub,
    store: PostgresStore,
) -> WorkerPool:
    """The workers of a ``serve`` or ``worker`` process, configured from ``settings``."""
    executor = Executor(
        pool,
        graphs,
        saver,
        hub,
        store=store,
        webhook_allow_private=settings.webhook_allow_private,
        max_attempts=settings.max_attempts,
        run_timeout_seconds=settings.run_timeout_seconds,
        webhooks=WebhookSender(
            pool,
            allow_private=settings.webhook_allow_private,
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
        ),
        db_retry_seconds=settings.db_retry_seconds,
    )
    return WorkerPool(
        pool,
        executor,
        hub,
        crons=CronService(
            pool,
            RunService(pool, graphs, hub, webhook_allow_private=settings.webhook_allow_private),
        ),
        database_url=database_url,
        concurrency=settings.workers,
        lease_seconds=settings.lease_seconds,
        stream_ttl_seconds=settings.stream_ttl_seconds,
        pooler=settings.pooled,
    )


def create_app(settings: Settings, registry: GraphRegistry | None = None) -> Litestar:
    """The HTTP app. ``settings.database_url`` must be set (the CLI resolves the embedded
    server before calling this); ``registry`` defaults to the graphs of the config file."""
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url")
    database_url = settings.database_url
    config = load_config(settings.config_path)
    graphs = registry or GraphRegistry.load(config)
    auth = load_auth(config)
    authorizer = Authorizer(auth) if auth is not None else None
    raw_http = config.raw.get("http") or {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(
            database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            pooler=settings.pooled,
        )
        hub = Hub(settings.direct_database_url or database_url)  # LISTEN: never through a pooler
        workers: WorkerPool | None = None
        try:
            await hub.start()
            saver = PostgresSaver(pool)
            run_service = RunService(
                pool, graphs, hub, webhook_allow_private=settings.webhook_allow_private
            )
            svc = Services(
                registry=graphs,
                threads=ThreadService(pool),
                assistants=AssistantService(pool, graphs),
                state=StateService(pool, graphs, saver),
                runs=run_service,
                crons=CronService(pool, run_service),
                streams=StreamService(pool, hub),
                hub=hub,
                pool=pool,
            )
            await svc.assistants.ensure_system_assistants()
            if settings.workers > 0:
                workers = worker_pool(
                    settings, database_url, pool, graphs, saver, hub, PostgresStore(pool)
                )
                await workers.start()
            app.state.services = svc
            tune_gc()
            yield
        finally:
            if workers is not None:
                await workers.stop(settings.shutdown_grace_seconds)
            await hub.close()
            await pool.close()

    routes: list[Any] = [
        *meta.ROUTES,
        *threads.ROUTES,
        *runs.ROUTES,
        *streams.ROUTES,
        *assistants.ROUTES,
        *store.ROUTES,
        *crons.ROUTES,
        *openapi.ROUTES,
    ]
    middleware = (
        [] if authorizer is None else [DefineMiddleware(Authentication, authorizer=authorizer)]
    )
    return Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=cors_config(raw_http, os.environ),
        middleware=middleware,
        before_send=[add_request_id],
        openapi_config=None,
        request_max_body_size=settings.max_body_bytes,
        state=State({"authorizer": authorizer, "headers": header_policy(raw_http)}),
    )
