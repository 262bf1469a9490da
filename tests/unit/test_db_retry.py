"""app.db.retry: which errors count as a database fault, and the backoff's budget."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from app.db.retry import CONFLICT_TRIES, Backoff, from_database, on_conflict, retrying, transient


def raised(exc: BaseException, *, cause: BaseException | None = None) -> BaseException:
    """``exc`` as Python leaves it after ``raise exc from cause`` (traceback and all)."""
    try:
        if cause is None:
            raise exc
        raise exc from cause
    except BaseException as caught:
        return caught


def _hide_context() -> None:
    try:
        raise asyncpg.exceptions.QueryCanceledError("statement timeout")
    except asyncpg.PostgresError:
        raise ValueError("while handling it") from None


def test_transient_looks_through_cause_and_context() -> None:
    shutdown = asyncpg.exceptions.AdminShutdownError("terminating connection")
    assert transient(shutdown)
    assert transient(raised(RuntimeError("wrapped"), cause=shutdown))
    with pytest.raises(ValueError, match="while handling it") as hidden:
        _hide_context()
    # ``from None`` hides the context: it is not the error's reason any more.
    assert not transient(hidden.value)
    assert not transient(ValueError("a bug"))
    assert not transient(asyncpg.exceptions.UniqueViolationError("duplicate"))


def test_from_database_needs_asyncpg_in_the_chain() -> None:
    assert from_database(asyncpg.exceptions.SerializationError("retry"))
    assert from_database(
        raised(
            RuntimeError("graph"), cause=asyncpg.exceptions.LockNotAvailableError("lock timeout")
        )
    )
    # A node's own network error is transient-looking, but not ours to resume on.
    assert not from_database(raised(ConnectionRefusedError(111, "refused")))


async def test_retrying_stops_at_the_budget_and_passes_other_errors() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(111, "refused")

    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await retrying(down, 0.3, "test")
    elapsed = time.monotonic() - started
    print(f"{calls} tries in {elapsed:.2f} s")
    assert calls > 2

    async def bug() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await retrying(bug, 10, "test")


async def test_retrying_returns_once_the_fault_is_gone() -> None:
    left = 3

    async def flaky() -> str:
        nonlocal left
        left -= 1
        if left:
            raise asyncpg.exceptions.CannotConnectNowError("starting up")
        return "ok"

    assert await retrying(flaky, 10, "test") == "ok"


async def test_backoff_gives_up_when_asked() -> None:
    stopping = False
    backoff = Backoff(float("inf"), give_up=lambda: stopping)
    assert await backoff.wait()
    stopping = True
    assert not await asyncio.wait_for(backoff.wait(), 1)


async def test_on_conflict_runs_a_deadlocked_statement_again_and_nothing_else() -> None:
    calls = 0

    async def deadlocks_twice() -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        return "created"

    assert await on_conflict(deadlocks_twice, "create") == "created"
    assert calls == 3

    async def always(exc: Exception) -> None:
        nonlocal calls
        calls += 1
        raise exc

    calls = 0
    with pytest.raises(asyncpg.DeadlockDetectedError):
        await on_conflict(lambda: always(asyncpg.DeadlockDetectedError("x")), "create")
    assert calls == CONFLICT_TRIES
    calls = 0  # a lost connection may have committed: not run again
    with pytest.raises(ConnectionResetError):
        await on_conflict(lambda: always(ConnectionResetError()), "create")
    assert calls == 1
