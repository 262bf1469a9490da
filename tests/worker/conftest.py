"""The worker tier: worker pools running in the test process, on a migrated database of the
test's own, with the services that create and cancel runs beside them (as ``turnstile
serve`` wires them, without HTTP). Tests wait on rows, never for a fixed time."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from app.core.access import Access, Caller
from app.core.runs import RunCreate
from app.db.notify import Hub
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.services.assistants import AssistantService
from app.services.runs import RunService
from app.services.threads import ThreadService
from app.settings import Settings
from app.wiring import Process
from app.worker.pool import WorkerPool

GRAPHS = str(Path(__file__).parent.parent / "graphs" / "langgraph.json")
WAIT_SECONDS = 30.0
T = TypeVar("T")


@pytest.fixture(scope="session")
def registry() -> GraphRegistry:
    return GraphRegistry.load(load_config(GRAPHS))


class House:
    """A database with the services of one API process and, on demand, worker pools."""

    def __init__(
        self, database_url: str, pool: asyncpg.Pool, hub: Hub, registry: GraphRegistry
    ) -> None:
        self.database_url = database_url
        self.pool = pool
        self.hub = hub
        self.registry = registry
        self.runs = RunService(pool, registry, hub)
        self.threads = ThreadService(pool)

    async def create_run(self, graph: str = "steps", **fields: Any) -> tuple[uuid.UUID, uuid.UUID]:
        """A new thread with one run of ``graph``: (thread id, run id)."""
        thread = await self.threads.create(
            Access(), thread_id=None, metadata=None, if_exists="raise"
        )
        tid = uuid.UUID(str(thread.thread_id))
        run = await self.runs.create(
            Access(), Caller(), tid, RunCreate(assistant_id=graph, **fields)
        )
        return tid, uuid.UUID(str(run.run_id))

    @contextlib.asynccontextmanager
    async def workers(self, **settings: Any) -> AsyncIterator[WorkerPool]:
        """A started worker pool configured by ``Settings(**settings)``; stopped at the end."""
        config = Settings(database_url=self.database_url, **settings)
        workers = Process(config, self.database_url, self.registry, self.pool, self.hub).workers()
        await workers.start()
        try:
            yield workers
        finally:
            await workers.stop(grace=5.0)

    async def run(self, run_id: uuid.UUID) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM runs WHERE run_id = $1", run_id)
        assert row is not None, f"run {run_id} is gone"
        return row

    async def thread(self, thread_id: uuid.UUID) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM threads WHERE thread_id = $1", thread_id)
        assert row is not None, f"thread {thread_id} is gone"
        return row

    async def wait_for_run(
        self, run_id: uuid.UUID, done: Callable[[asyncpg.Record], bool], what: str
    ) -> asyncpg.Record:
        """Poll the run's row until ``done`` holds for it."""
        return await until(lambda: self.run(run_id), done, f"run {run_id}: {what}")

    async def events(self, run_id: uuid.UUID) -> list[tuple[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT event, data FROM run_events WHERE run_id = $1 ORDER BY event_id", run_id
            )
        return [(r["event"], r["data"]) for r in rows]


async def until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """``read()`` again (every 20 ms) until ``done`` holds for what it returns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        value = await read()
        if done(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached in {WAIT_SECONDS:g} s; last: {value!r}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def house(
    database_url: str, pool: asyncpg.Pool, registry: GraphRegistry
) -> AsyncIterator[House]:
    hub = Hub(database_url)
    try:
        await hub.start()
        await AssistantService(pool, registry).ensure_system_assistants()
        yield House(database_url, pool, hub, registry)
    finally:
        await hub.close()
