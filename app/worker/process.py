"""``turnstile worker``: a process that only runs runs (no HTTP), for scaling out.

It shares the database with any number of API and worker processes. SIGTERM or SIGINT stop
it gracefully: no new claims, running runs get ``shutdown_grace_seconds`` to finish, the rest
are handed back as ``pending`` (not counted as an attempt) for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from app.graphs.registry import GraphRegistry
from app.policies import Policies
from app.settings import Settings
from app.wiring import process, tune_gc

log = logging.getLogger("turnstile.worker")


async def run_worker(
    settings: Settings, database_url: str, registry: GraphRegistry, policies: Policies | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with process(settings, database_url, registry, policies) as proc:
        workers = proc.workers()
        await workers.start()
        tune_gc()
        log.info("worker %s: %d jobs", workers.owner, workers.concurrency)
        await stop.wait()
        log.info("worker %s: stopping", workers.owner)
        await workers.stop(settings.shutdown_grace_seconds)
