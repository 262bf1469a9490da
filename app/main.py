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

from app.api import (
    a2a,
    assistants,
    console,
    crons,
    custom_app,
    mcp,
    meta,
    openapi,
    protocol_v2,
    protocol_v2_socket,
    runs,
    store,
    streams,
    threads,
)
from app.api.errors import EXCEPTION_HANDLERS
from app.api.http_config import cors_config, header_policy
from app.api.middleware import Authentication, add_request_id, allow_private_network
from app.api.observed import Observed, logging_headers
from app.auth.handlers import Authorizer, load_auth
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.policies import Policies
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
    policies = Policies.of(config.raw)
    graphs = registry or GraphRegistry.load(config)
    auth = load_auth(config)
    authorizer = Authorizer(auth, policies.auth_cache) if auth is not None else None
    raw_http = config.raw.get("http") or {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with process(settings, database_url, graphs, policies) as proc:
            workers: WorkerPool | None = None
            try:
                svc = proc.services()
                await svc.assistants.ensure_system_assistants()
                if settings.workers > 0:
                    workers = proc.workers()
                    await workers.start()
                    svc.health.workers = workers
                app.state.services = svc
                app.state.process = proc  # the CLI drains its streams on SIGTERM
                tune_gc()
                yield
            finally:
                if workers is not None:
                    await workers.stop(settings.shutdown_grace_seconds)

    off = policies.http.disabled
    groups: list[tuple[str, list[Any]]] = [
        ("meta", [*meta.ROUTES, *openapi.ROUTES]),
        ("threads", [*threads.ROUTES, *protocol_v2.ROUTES, *protocol_v2_socket.ROUTES]),
        ("runs", [*runs.ROUTES, *streams.ROUTES, *crons.ROUTES]),
        ("assistants", assistants.ROUTES),
        ("store", store.ROUTES),
        ("mcp", mcp.ROUTES),
        ("a2a", a2a.ROUTES),
        ("console", console.ROUTES),  # its own group: http.disable_ui is the official /ui
    ]
    routes = [route for group, listed in groups if group not in off for route in listed]
    if "meta" in off:
        routes.append(meta.ok)  # the operator can still see that it started
    middleware = [
        DefineMiddleware(Observed, headers=logging_headers(raw_http)),  # first: sees 401s too
        *([] if authorizer is None else [DefineMiddleware(Authentication, authorizer=authorizer)]),
    ]
    hooks = [add_request_id, *([allow_private_network] if settings.allow_private_network else [])]
    return Litestar(
        route_handlers=routes,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=cors_config(raw_http, os.environ),
        middleware=middleware,
        before_send=hooks,
        openapi_config=None,
        logging_config=None,  # the CLI configures logging (LOG_LEVEL, LOG_JSON)
        request_max_body_size=settings.max_body_bytes,
        state=State(
            {
                "authorizer": authorizer,
                "headers": header_policy(raw_http),
                "policies": policies,
                "base_dir": config.base_dir,
                "auth_openapi": policies.auth_openapi,
            }
        ),
    )


def served_app(settings: Settings, registry: GraphRegistry | None = None) -> Any:  # an ASGI app
    """What ``serve`` runs: the API (``create_app``), with langgraph.json's ``http.app``
    beside it and under ``http.mount_prefix`` when they are configured
    (``app.api.custom_app``). Its ``state`` is the API's."""
    api = create_app(settings, registry)
    options = api.state["policies"].http
    if options.app is None and options.mount_prefix is None:
        return api
    user: Any = custom_app.load(options.app, api.state["base_dir"]) if options.app else None
    if user is not None and callable(getattr(user, "openapi", None)):
        api.state["custom_openapi"] = user.openapi
    return custom_app.Composed(api, user, options, api.state["authorizer"], api.state)
