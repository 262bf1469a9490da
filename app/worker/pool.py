"""The in-process worker pool: claim, run, heartbeat, recover (DESIGN I4, I5).

One dispatcher claims pending runs with ``FOR UPDATE SKIP LOCKED`` whenever a slot is free
and is woken at once by the hub (a local signal after commit, or NOTIFY from another
process); the timed wait is only a fallback. A heartbeat renews this worker's leases, picks
up cancel requests it may have missed, re-queues runs whose lease expired elsewhere, and
deletes stream events kept past their time (``stream_ttl_seconds`` after the run ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from typing import Any

import asyncpg

from app.checkpoint import sql as checkpoint_sql
from app.db import events as event_rows
from app.db import runs as run_rows
from app.db.notify import RUN_READY, Hub, notify
from app.worker.executor import ClaimedRun, Executor

log = logging.getLogger("turnstile.worker")

LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0
FALLBACK_POLL_SECONDS = 2.0


class WorkerPool:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        executor: Executor,
        hub: Hub,
        *,
        concurrency: int,
        stream_ttl_seconds: float = 120.0,
    ) -> None:
        self.pool = pool
        self.executor = executor
        self.hub = hub
        self.concurrency = max(1, concurrency)
        self.stream_ttl_seconds = stream_ttl_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._running: dict[uuid.UUID, tuple[ClaimedRun, asyncio.Task[None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        self.hub.on_cancel(self._cancel)
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="turnstile-dispatch"),
            asyncio.create_task(self._heartbeat(), name="turnstile-heartbeat"),
        ]

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let running runs finish within ``grace``, then hand them back."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending = [t for _, t in self._running.values()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for run, task in list(self._running.values()):
                if task in still:
                    run.shutdown = True
                    task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)

    def _cancel(self, run_id: uuid.UUID, action: str | None = None) -> None:
        entry = self._running.get(run_id)
        if entry is None:
            return
        run, task = entry
        if run.cancel_requested:  # the local signal and the NOTIFY both arrive: cancel once
            return
        run.cancel_requested = True
        run.cancel_action = action or run.cancel_action or "interrupt"
        task.cancel()

    async def _dispatch(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._running)
            claimed: list[asyncpg.Record] = []
            if free > 0:
                self.hub.run_ready.clear()
                try:
                    async with self.pool.acquire() as conn:
                        claimed = await run_rows.claim(conn, self.owner, free, LEASE_SECONDS)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("claim failed: %s", exc)
                for row in claimed:
                    self._spawn(ClaimedRun.from_row(row))
                if claimed and len(claimed) == free:
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.hub.run_ready.wait(), FALLBACK_POLL_SECONDS)

    def _spawn(self, run: ClaimedRun) -> None:
        task = asyncio.create_task(self._execute(run), name=f"run-{run.run_id}")
        self._running[run.run_id] = (run, task)

    async def _execute(self, run: ClaimedRun) -> None:
        try:
            await self.executor.execute(run)
        except asyncio.CancelledError:
            if not run.shutdown:
                raise
        except Exception:
            log.exception("run %s: unexpected failure in the worker", run.run_id)
        finally:
            self._running.pop(run.run_id, None)
            self.hub.signal_ready()  # a slot is free

    async def _heartbeat(self) -> None:
        while not self._stopping:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                async with self.pool.acquire() as conn:
                    await run_rows.renew_leases(conn, self.owner, LEASE_SECONDS)
                    if self._running:
                        rows = await conn.fetch(
                            "SELECT run_id, cancel_action FROM runs WHERE run_id = ANY($1::uuid[]) "
                            "AND cancel_action IS NOT NULL",
                            list(self._running),
                        )
                        for row in rows:
                            self._cancel(row["run_id"], row["cancel_action"])
                    async with conn.transaction():
                        if await run_rows.requeue_expired(conn):
                            await notify(conn, RUN_READY)
                await self._sweep_temporary()
                async with self.pool.acquire() as conn:
                    await event_rows.purge(conn, self.stream_ttl_seconds)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _sweep_temporary(self) -> None:
        """Stateless threads whose waiter went away are deleted a minute after their run."""
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                """DELETE FROM threads WHERE thread_id IN (
                     SELECT thread_id FROM runs WHERE temporary
                       AND kwargs->>'on_completion' = 'delete'
                       AND status IN ('success', 'error', 'timeout', 'interrupted')
                       AND ended_at < now() - interval '60 seconds')
                   RETURNING thread_id"""
            )
            if ids:
                await checkpoint_sql.delete_threads(conn, [str(r["thread_id"]) for r in ids])
