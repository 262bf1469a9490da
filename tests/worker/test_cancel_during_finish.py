"""A cancel that arrives while a run's outcome is being written: the run keeps the outcome
its graph reached (the finishing transaction is never cancelled, API.md §5.5), and a cancel
that waits behind the finish's lock finds the run finished (404). Before the lock the finish
is its one statement (``outcome.finish_alone``); under it, its transaction."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.core.access import Access
from app.core.errors import NotFound
from app.db import outcome
from app.db.statuses import TERMINAL
from tests.worker.conftest import House


@pytest.mark.parametrize("when", ["before_the_lock", "under_the_lock"])
async def test_a_cancel_during_the_finish_leaves_the_outcome(
    house: House, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    tid, rid = await house.create_run(input={"label": "x"})
    lock = outcome.lock
    cancels: list[asyncio.Task[None]] = []

    async def cancel() -> None:
        await house.runs.cancel(Access(), tid, rid, "interrupt")

    async def lock_then_cancel(conn: Any, thread_id: uuid.UUID, run_id: uuid.UUID, *a: Any) -> Any:
        if run_id == rid and not cancels and when == "before_the_lock":
            # The graph is done and the finish has begun: the run is still ``running``,
            # so the cancel is accepted and reaches the worker, which lets the finish go on.
            cancels.append(asyncio.create_task(cancel()))
            await cancels[0]
        locked = await lock(conn, thread_id, run_id, *a)
        if run_id == rid and not cancels:
            # The finish holds the thread row: the cancel waits for its commit.
            cancels.append(asyncio.create_task(cancel()))
            await _waiting_for_a_lock(house, cancels[0])
        return locked

    monkeypatch.setattr(outcome, "lock", lock_then_cancel)
    alone = outcome.finish_alone

    async def cancel_then_finish_alone(conn: Any, ended: outcome.Outcome, *a: Any) -> outcome.Alone:
        if ended.run_id == rid and not cancels and when == "before_the_lock":
            cancels.append(asyncio.create_task(cancel()))
            await cancels[0]
            return await alone(conn, ended, *a)
        # A cancel waits behind the lock of the transaction only, which the finish takes
        # when the statement did not find the run alone.
        return outcome.Alone(alone=False, held=False, finished=False, promoted=False)

    monkeypatch.setattr(outcome, "finish_alone", cancel_then_finish_alone)
    async with house.workers(lease_seconds=5.0):
        row = await house.wait_for_run(rid, lambda r: r["status"] in TERMINAL, "ended")
        [task] = cancels
        if when == "before_the_lock":
            assert task.done()
            assert task.exception() is None  # accepted
        else:
            with pytest.raises(NotFound, match="No matching runs to cancel"):
                await task
    assert row["status"] == "success"
    assert row["output"] == {"label": "x", "log": ["x", "done:x"]}
    assert (await house.thread(tid))["status"] == "idle"
    assert [e for e, _ in await house.events(rid)] == ["metadata", "values", "values", "values"]


async def _waiting_for_a_lock(house: House, task: asyncio.Task[None]) -> None:
    """Until another backend of this database waits for a lock (or ``task`` is done)."""
    async with house.pool.acquire() as conn:
        while not task.done():
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
