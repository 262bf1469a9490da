"""Long-lived loops that outlive any exception, and the process's health record (DESIGN I10).

Every loop of a process (dispatch, housekeeping, crons, the LISTEN connection, the lease
keeper) runs its step through a ``Guard``: an error is logged with the loop's name (the full
traceback the first time, one line while it repeats), recorded in the ``Health`` that
``/ok`` and ``/metrics`` read, and followed by a pause that doubles from 0.1 s to about 5 s,
with jitter so that many processes do not come back in step. The first success resets it.

The pause is cut short when any loop of the process sees the database again (a loop that
recovers calls ``Health.wake_all``), so one loop finding PostgreSQL back brings the others
back at once instead of each waiting out its own backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.db.errors import is_transient

log = logging.getLogger("turnstile.loops")

FIRST_PAUSE = 0.1
MAX_PAUSE = 5.0


@dataclass
class LoopState:
    """What ``/ok`` and ``/metrics`` show about one loop."""

    down_since: float | None = None
    """Wall time (epoch seconds) of the first failure of the current streak; None: up."""
    last_error: str | None = None
    """The latest error, one line (kept after recovery, for the operator)."""
    failures: int = 0
    """Consecutive failures of the current streak."""
    errors_total: int = 0


class Health:
    """One process's loops and whether each is up. Written by the loops (the lease keeper's
    from its own thread: single attribute writes, safe under the GIL), read by ``/ok``."""

    def __init__(self) -> None:
        self.loops: dict[str, LoopState] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.generation = 0
        """Counts ``wake_all`` calls: a thread's pause (the lease keeper's) ends when it
        changes."""

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop whose pauses ``wake_all`` cuts short (the process's main loop)."""
        self._loop = loop

    def guard(self, name: str, *, cap: float = MAX_PAUSE) -> Guard:
        with self._lock:
            self.loops.setdefault(name, LoopState())
        return Guard(name, self, cap=cap)

    def down(self) -> dict[str, LoopState]:
        """The loops failing now."""
        return {k: v for k, v in list(self.loops.items()) if v.down_since is not None}

    def wake_all(self) -> None:
        """End every loop's current backoff pause (the database is back). Any thread."""
        self.generation += 1
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._wake_now()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        event, self._wake = self._wake, asyncio.Event()
        event.set()

    def pause_thread(self, seconds: float, stop: threading.Event) -> None:
        """``pause`` for a thread of its own: sleep ``seconds``, less if ``wake_all`` is
        called or ``stop`` is set (checked every 0.1 s; only while a loop is failing)."""
        generation = self.generation
        end = time.monotonic() + seconds
        while not stop.is_set() and self.generation == generation:
            left = end - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.1))

    async def pause(self, seconds: float, also: asyncio.Event | None = None) -> None:
        """Sleep ``seconds``, or less if ``wake_all`` is called or ``also`` is set."""
        waits = [asyncio.ensure_future(self._wake.wait())]
        if also is not None:
            waits.append(asyncio.ensure_future(also.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()


class Backoff:
    """Pauses that double from ``first`` to ``cap``, each jittered to 50-100% of its step
    (so that many processes or clients do not retry in step); ``reset`` after a success."""

    def __init__(self, first: float = FIRST_PAUSE, cap: float = MAX_PAUSE) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        pause = self._next * random.uniform(0.5, 1.0)
        self._next = min(self._next * 2, self.cap)
        return pause

    def reset(self) -> None:
        self._next = self.first


class Guard:
    """The error handling of one loop: ``failed(exc)`` logs, records and returns how long
    to pause; ``succeeded()`` resets (and wakes the other loops if this one was down)."""

    def __init__(self, name: str, health: Health, *, cap: float = MAX_PAUSE) -> None:
        self.name = name
        self.health = health
        self.backoff = Backoff(cap=cap)

    @property
    def state(self) -> LoopState:
        return self.health.loops[self.name]

    def failed(self, exc: BaseException) -> float:
        """Log and record ``exc``; the pause before the next try (jittered, doubling)."""
        state = self.state
        line = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        state.failures += 1
        state.errors_total += 1
        state.last_error = line
        if state.down_since is None:
            state.down_since = time.time()
            if is_transient(exc):
                log.warning("%s loop failed, retrying: %s", self.name, line, exc_info=exc)
            else:
                log.error("%s loop failed, retrying", self.name, exc_info=exc)
        else:
            log.warning("%s loop still failing (%d): %s", self.name, state.failures, line)
        return self.backoff.next()

    def succeeded(self) -> None:
        state = self.state
        self.backoff.reset()
        if state.down_since is None:
            return
        log.warning(
            "%s loop recovered after %d failures (%.1f s)",
            self.name,
            state.failures,
            time.time() - state.down_since,
        )
        state.down_since = None
        state.failures = 0
        self.health.wake_all()


async def forever(
    name: str,
    step: Callable[[], Awaitable[Awaitable[object] | None]],
    health: Health,
    *,
    stopping: Callable[[], bool],
    wake: asyncio.Event | None = None,
) -> None:
    """Run ``step`` again and again until ``stopping()``. A step returns what to wait for
    before the next one (or None): the loop counts as up as soon as the step's work is
    done, not after its idle wait. Any exception but cancellation is logged and recorded,
    and the next step comes after a backoff pause (cut short by ``wake``, or by another
    loop seeing the database back)."""
    guard = health.guard(name)
    while not stopping():
        try:
            idle = await step()
            guard.succeeded()
            if idle is not None:
                await idle
        except Exception as exc:  # everything but CancelledError: the loop must go on
            pause = guard.failed(exc)
            with contextlib.suppress(Exception):
                await health.pause(pause, wake)
