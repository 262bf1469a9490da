"""The Litestar application: its lifespan (the process of ``app.wiring`` and its workers),
routes, middleware and error handlers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.middleware.base import DefineMiddleware

from app.api import assistants, crons, meta, openapi, runs, store, streams, threads
from app.api.errors import EXCEPTION_HANDLERS
from app.api.http_config import cors_config, header_policy
from app.api.middleware import Authentication, add_request_id
from app.auth.handlers import Authorizer, load_auth
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.settings import Settings
from app.wiring import process, tune_gc
from app.worker.pool import WorkerPool


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
        async with process(settings, database_url, graphs) as proc:
            workers: WorkerPool | None = None
            try:
                svc = proc.services()
                await svc.assistants.ensure_system_assistants()
                if settings.workers > 0:
                    workers = proc.workers()
                    await workers.start()
                app.state.services = svc
                app.state.process = proc  # the CLI drains its streams on SIGTERM
                tune_gc()
                yield
            finally:
                if workers is not None:
                    await workers.stop(settings.shutdown_grace_seconds)

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
