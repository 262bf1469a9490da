"""How a process is put together: its connection pool and LISTEN hub, the services the API
calls, and the worker pool. ``turnstile serve`` (the lifespan in ``app.main``) and
``turnstile worker`` (``app.worker.process``) are both built here.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from app.checkpoint.saver import PostgresSaver
from app.db import store_vectors as vector_rows
from app.db.notify import Hub
from app.db.pool import create_pool
from app.graphs.config import ConfigError
from app.graphs.registry import GraphRegistry
from app.policies import Policies
from app.services.assistants import AssistantService
from app.services.console import ConsoleService
from app.services.container import Services
from app.services.crons import CronService
from app.services.health import HealthService
from app.services.runs import RunService
from app.services.state import StateService
from app.services.store import StoreService
from app.services.streams import StreamService
from app.services.threads import ThreadService
from app.services.webhooks import WebhookPolicy
from app.settings import Settings
from app.store.index import IndexConfig, StoreIndex
from app.store.postgres import PostgresStore
from app.worker.executor import Executor
from app.worker.pool import WorkerPool
from app.worker.webhooks import WebhookSender

GC_THRESHOLD = 20_000
log = logging.getLogger("turnstile.store")


def tune_gc() -> None:
    """Once started: move everything allocated so far (modules, graphs, the app) out of the
    cyclic collector's sight (``gc.freeze``), and collect the young generation less often.
    A run allocates thousands of short-lived objects; with the defaults the collector keeps
    re-walking the whole heap, pausing the event loop (for every request and run) for up
    to tens of milliseconds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


@dataclass
class Process:
    """What one process runs on: the pool, the hub (started), the checkpointer; it builds
    the services and the workers on them."""

    settings: Settings
    database_url: str
    graphs: GraphRegistry
    pool: Any
    hub: Hub
    policies: Policies = field(default_factory=Policies)
    saver: PostgresSaver = field(init=False)
    webhooks: WebhookPolicy = field(init=False)

    store_index: StoreIndex | None = None

    def __post_init__(self) -> None:
        self.saver = PostgresSaver(self.pool)
        self.webhooks = webhook_policy(self.settings, self.policies)

    def _thread_ttl(self) -> tuple[float, str] | None:
        ttl = self.policies.threads
        return None if ttl.default_minutes is None else (ttl.default_minutes, ttl.strategy)

    def _threads(self) -> ThreadService:
        return ThreadService(
            self.pool,
            default_ttl=self._thread_ttl(),
            sweep_limit=self.policies.threads.sweep_limit or 100,
        )

    def _runs(self) -> RunService:
        return RunService(
            self.pool, self.graphs, self.hub, webhooks=self.webhooks, thread_ttl=self._thread_ttl()
        )

    def services(self) -> Services:
        """The use cases the API's handlers call."""
        pool, hub = self.pool, self.hub
        runs = self._runs()
        return Services(
            registry=self.graphs,
            threads=self._threads(),
            assistants=AssistantService(pool, self.graphs),
            state=StateService(pool, self.graphs, self.saver),
            runs=runs,
            crons=CronService(pool, runs),
            streams=StreamService(pool, hub),
            store=StoreService(pool, self.policies.store, self.store_index),
            health=HealthService(pool, hub, runs),
            console=ConsoleService(pool),
        )

    def workers(self) -> WorkerPool:
        """The workers of a ``serve`` or ``worker`` process, configured from the settings
        (not started)."""
        settings, pool = self.settings, self.pool
        executor = Executor(
            pool,
            self.graphs,
            self.saver,
            self.hub,
            store=PostgresStore(pool, self.policies.store, self.store_index),
            max_attempts=settings.max_attempts,
            run_timeout_seconds=settings.run_timeout_seconds,
            webhooks=WebhookSender(
                pool,
                policy=self.webhooks,
                max_attempts=settings.webhook_max_attempts,
                backoff_seconds=settings.webhook_backoff_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
            ),
            db_retry_seconds=settings.db_retry_seconds,
        )
        return WorkerPool(
            pool,
            executor,
            self.hub,
            crons=CronService(pool, self._runs()),
            database_url=self.database_url,
            concurrency=settings.workers,
            lease_seconds=settings.lease_seconds,
            stream_ttl_seconds=settings.stream_ttl_seconds,
            pooler=settings.pooled,
            threads=self._threads(),
            thread_sweep_seconds=self.policies.threads.sweep_seconds,
            store_sweep_seconds=self.policies.store.sweep_seconds,
        )

    def drain_threadsafe(self) -> None:
        """End the streams this process serves now (callable from another thread, a signal
        handler's): they never end on their own, and their clients reconnect elsewhere."""
        self.hub.drain_threadsafe()


def webhook_policy(settings: Settings, policies: Policies) -> WebhookPolicy:
    """The operator's TURNSTILE_WEBHOOK_ALLOW_PRIVATE under langgraph.json's ``webhooks``
    section (whose explicit ``disable_loopback``/``disable_private_ips`` win); relative URLs
    point at this process's own address."""
    rules = policies.webhooks
    allow = settings.webhook_allow_private
    host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
    host = f"[{host}]" if ":" in host else host
    return WebhookPolicy(
        allow_loopback=allow if rules.allow_loopback is None else rules.allow_loopback,
        allow_private=allow if rules.allow_private is None else rules.allow_private,
        require_https=rules.require_https,
        allowed_domains=rules.allowed_domains,
        allowed_ports=rules.allowed_ports,
        max_url_length=rules.max_url_length,
        headers=rules.headers,
        enabled=not rules.disabled,
        local_base_url=f"http://{host}:{settings.port}{policies.http.mount_prefix or ''}",
    )


async def store_index(pool: Any, config: IndexConfig | None, base_dir: str) -> StoreIndex | None:
    """The store's index, checked against what its stored vectors were made with: a change
    of model, size or fields stops the process until ``turnstile store reindex`` ran."""
    if config is None:
        return None
    index = StoreIndex(config, base_dir)
    async with pool.acquire() as conn:
        stored = await vector_rows.signature(conn)
        if stored is None:
            await vector_rows.set_signature(conn, config.signature)
        elif stored != config.signature:
            if await vector_rows.count(conn) == 0:
                await vector_rows.set_signature(conn, config.signature)
            else:
                raise ConfigError(
                    f"store.index changed since the stored embeddings were made "
                    f"({stored} -> {config.signature}): run `turnstile store reindex` "
                    "to embed every item again with the new settings"
                )
        index.pgvector = await vector_rows.has_pgvector(conn)
        hnsw = await vector_rows.ensure_hnsw(conn, config.dims) if index.pgvector else None
    if hnsw:
        ranking = f"HNSW index {hnsw} (past {vector_rows.HNSW_FROM} vectors; else exact)"
    else:
        ranking = "exact ranking" + (" (no HNSW index)" if index.pgvector else "")
    log.info(
        "store index: %d dimensions, %s, scored %s",
        config.dims,
        ranking,
        "by pgvector" if index.pgvector else "in SQL (no pgvector in this database)",
    )
    return index


@asynccontextmanager
async def process(
    settings: Settings,
    database_url: str,
    graphs: GraphRegistry,
    policies: Policies | None = None,
) -> AsyncIterator[Process]:
    """The pool and the started hub for the time of the block; both closed after it."""
    pool = await create_pool(
        database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        pooler=settings.pooled,
    )
    hub = Hub(settings.direct_database_url or database_url)  # LISTEN: never through a pooler
    policies = policies or Policies()
    try:
        index = await store_index(pool, policies.store_index, graphs.base_dir)
        await hub.start()
        yield Process(settings, database_url, graphs, pool, hub, policies, index)
    finally:
        await hub.close()
        await pool.close()
