"""``turnstile worker``: a process that only runs runs (no HTTP), for scaling out.

It shares the database with any number of API and worker processes. SIGTERM or SIGINT stop
it gracefully: no new claims, running runs get ``shutdown_grace_seconds`` to finish, the rest
are handed back as ``pending`` (not counted as an attempt) for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from app.checkpoint.saver import PostgresSaver
from app.db.notify import Hub
from app.db.pool import create_pool
from app.graphs.registry import GraphRegistry
from app.settings import Settings
from app.store.postgres import PostgresStore

log = logging.getLogger("turnstile.worker")


async def run_worker(settings: Settings, database_url: str, registry: GraphRegistry) -> None:
    from app.main import tune_gc, worker_pool

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(
        database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        pooler=settings.pooled,
    )
    hub = Hub(settings.direct_database_url or database_url)  # LISTEN: never through a pooler
    try:
        await hub.start()
        workers = worker_pool(
            settings, database_url, pool, registry, PostgresSaver(pool), hub, PostgresStore(pool)
        )
        await workers.start()
        tune_gc()
        log.info("worker %s: %d jobs", workers.owner, workers.concurrency)
        await stop.wait()
        log.info("worker %s: stopping", workers.owner)
        await workers.stop(settings.shutdown_grace_seconds)
    finally:
        await hub.close()
        await pool.close()
