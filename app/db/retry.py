"""Retrying through database faults: which errors, how long, how often.

Not SQL, but the one policy for riding out a transient fault, for the worker and the
services alike. A run's attempt meets the database in many places (its batch writes, the checkpoint reads
inside the graph, the finishing transaction, a few small reads). A transient fault
(``app.db.errors.is_transient``: connection lost or refused, a restart, a timeout, a
serialization failure) in any of them is retried here with exponential backoff and full
jitter, for at most ``budget`` seconds from the first failure, before the run is ever
marked ``error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from app.db.errors import is_conflict, is_transient
from app.db.loops import Backoff as Steps
from app.observability import metrics

log = logging.getLogger("turnstile.db")

T = TypeVar("T")

FIRST_DELAY = 0.05
MAX_DELAY = 2.0


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from or while handling (``__cause__``,
    ``__context__`` unless hidden by ``raise ... from None``), each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.append(current.__cause__)
        if not current.__suppress_context__:
            pending.append(current.__context__)


def transient(exc: BaseException) -> bool:
    """Whether ``exc``, or an error in its chain (LangGraph and asyncpg may wrap the
    database's error), is transient."""
    return any(is_transient(current) for current in _chain(exc))


def _raised_by_asyncpg(exc: BaseException) -> bool:
    if type(exc).__module__.startswith("asyncpg"):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
            return True
        tb = tb.tb_next
    return False


def from_database(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient fault of *our* database connections: it (or an error
    in its chain) is transient and was raised by asyncpg, not by a node's own network
    call (a node's ``ConnectionError`` is its own business, not a reason to resume)."""
    return transient(exc) and any(_raised_by_asyncpg(current) for current in _chain(exc))


class Backoff:
    """Delays between retries: doubling from ``FIRST_DELAY`` up to ``MAX_DELAY``, jittered
    as every backoff of the process is (``app.db.loops.Backoff``), until
    ``budget`` seconds have passed since the first failure (the first ``next_delay``). One
    backoff may be shared by several steps of one piece of work: they share its budget."""

    def __init__(self, budget: float, *, give_up: Callable[[], bool] | None = None) -> None:
        self.budget = budget
        self.give_up = give_up
        """Asked before each retry: True ends the retries at once (shutting down)."""
        self.started: float | None = None
        self.tries = 0
        self._steps = Steps(FIRST_DELAY, MAX_DELAY)

    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def next_delay(self) -> float | None:
        """The next delay, or None when the budget is spent."""
        if self.started is None:
            self.started = time.monotonic()
        if self.give_up is not None and self.give_up():
            return None
        left = self.budget - self.elapsed
        if left <= 0:
            return None
        self.tries += 1
        metrics.database_retry()
        return min(self._steps.next(), left)

    async def wait(self) -> bool:
        """Sleep the next delay; False (at once) when the budget is spent."""
        delay = self.next_delay()
        if delay is None:
            return False
        await asyncio.sleep(delay)
        return True


CONFLICT_TRIES = 5


async def on_conflict(op: Callable[[], Awaitable[T]], what: str) -> T:
    """``await op()``, again (after a short jittered pause) when PostgreSQL aborted it as a
    deadlock or serialization failure (``is_conflict``), up to ``CONFLICT_TRIES`` times.
    For statements clients wait on, such as a run create racing others on its thread."""
    steps = Steps(0.002, 0.05)
    for attempt in range(1, CONFLICT_TRIES + 1):
        try:
            return await op()
        except Exception as exc:
            if not is_conflict(exc) or attempt == CONFLICT_TRIES:
                raise
            log.info("%s: %r; trying again (%d)", what, exc, attempt)
            await asyncio.sleep(steps.next())
    raise AssertionError("unreachable")


async def retrying(
    op: Callable[[], Awaitable[T]], budget: float, what: str, *, backoff: Backoff | None = None
) -> T:
    """``await op()``, again after each transient failure until ``budget`` seconds have
    passed since the first one (or ``backoff``'s budget is spent, when given); then the
    last error is raised. Any other error is raised at once. ``op`` must be safe to repeat
    (a read, or a whole transaction)."""
    backoff = backoff or Backoff(budget)
    while True:
        try:
            return await op()
        except Exception as exc:
            if not transient(exc):
                raise
            if not await backoff.wait():
                log.error("%s: the database stayed unavailable for %.1f s", what, backoff.elapsed)
                raise
            log.warning("%s failed (retry %d): %r", what, backoff.tries, exc)
