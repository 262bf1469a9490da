"""The loop guard (app.db.loops): any exception but cancellation is survived and recorded."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from app.db.loops import Backoff, Health, forever


async def test_a_loop_survives_any_exception_and_reports_its_health() -> None:
    health = Health()
    health.bind(asyncio.get_running_loop())
    errors = [
        asyncpg.InternalClientError("cannot switch to state 12"),
        RuntimeError("a bug"),
        ConnectionRefusedError(111, "Connection refused"),
    ]
    seen: list[str] = []
    done = asyncio.Event()
    stop = False

    async def step() -> None:
        if not done.is_set():
            seen.append("down" if health.down() else "up")
        if errors:
            raise errors.pop(0)
        if len(seen) == 5:  # the call after the first success saw the loop up again
            done.set()
        await asyncio.sleep(0.01)

    task = asyncio.create_task(forever("test", step, health, stopping=lambda: stop))
    await asyncio.wait_for(done.wait(), 5)
    stop = True
    state = health.loops["test"]
    assert seen == ["up", "down", "down", "down", "up"]  # down from the first failure to a success
    assert state.down_since is None  # back up after the success
    assert state.errors_total == 3
    assert state.last_error == "ConnectionRefusedError: [Errno 111] Connection refused"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_cancellation_ends_the_loop() -> None:
    health = Health()

    async def step() -> None:
        await asyncio.sleep(10)

    task = asyncio.create_task(forever("test", step, health, stopping=lambda: False))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_wake_all_cuts_a_backoff_pause_short() -> None:
    health = Health()
    health.bind(asyncio.get_running_loop())
    pause = asyncio.create_task(health.pause(30))
    await asyncio.sleep(0.01)
    health.wake_all()
    await asyncio.wait_for(pause, 1)


def test_backoff_doubles_with_jitter_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=0.1, cap=5.0)
    pauses = [backoff.next() for _ in range(10)]
    assert 0.05 <= pauses[0] <= 0.1
    assert all(2.5 <= p <= 5.0 for p in pauses[7:])
    backoff.reset()
    assert backoff.next() <= 0.1
