"""Waiting for a run's end (API.md §5.4): the wait, join and cancel-and-wait answers.

The hub knows the output of a run that ended in this process, and which runs ended
elsewhere (read from the row); a lost NOTIFY is found by reading the row once a wait times
out. A read of the row that fails on a database fault is retried with backoff, as long as
the client waits: a wait never ends without the run's output.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.core import jsonable
from app.db.errors import is_transient
from app.db.loops import Backoff
from app.db.notify import UNKNOWN, Hub

log = logging.getLogger("turnstile.waits")

Outcome = Callable[[uuid.UUID], Awaitable[tuple[bool, Any]]]
"""``run_id -> (ended, output)``, read from the run's row (``RunService.outcome``)."""


class Waiter:
    """Waits for a run's end and knows its output.

    ``fresh``: the run was created by this request, so its end cannot have been reported
    before this process's hub saw it; no first query."""

    def __init__(self, hub: Hub, outcome: Outcome, run_id: uuid.UUID, *, fresh: bool) -> None:
        self.hub = hub
        self.outcome = outcome
        self.run_id = run_id
        self.check_row = not fresh
        self.output: Any = None
        self.backoff = Backoff()

    async def ended_within(self, seconds: float) -> bool:
        """Whether the run ended within ``seconds`` (then ``output`` holds its output).
        Raises only what is not a database fault."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        with self.hub.watch_done(self.run_id) as done:
            while True:
                done.clear()
                recent = self.hub.recent_outcome(self.run_id)
                if recent is not None and recent is not UNKNOWN:
                    self.output = recent
                    return True
                pause = None
                if recent is UNKNOWN or self.check_row:
                    try:
                        ended, output = await self.outcome(self.run_id)
                    except Exception as exc:
                        if not is_transient(exc):
                            raise
                        log.info(
                            "wait for run %s: reading it failed, retrying: %r", self.run_id, exc
                        )
                        pause = self.backoff.next()
                    else:
                        self.backoff.reset()
                        if ended:
                            self.output = output
                            return True
                remaining = deadline - loop.time()
                try:
                    await asyncio.wait_for(
                        done.wait(), remaining if pause is None else min(pause, remaining)
                    )
                except TimeoutError:
                    if loop.time() >= deadline:
                        self.check_row = True  # a lost NOTIFY is found by reading the row
                        return False
                # Woken: by the run's end (the hub then holds the outcome) or by a catch-up
                # after the LISTEN connection came back (the row tells); or a retry is due.
                self.check_row = True

    def body(self) -> bytes:
        """The run's output as JSON (``{}`` when it has none)."""
        return jsonable.dumps(answered(self.output))


def answered(output: Any) -> Any:
    """A run's output as wait, join and cancel-and-wait answer it: ``{}`` when it has
    none, and each interrupt of its ``__interrupt__`` with a ``response_schema`` (null
    when the graph gave none), as the reference's wait and stream payloads carry it (a
    thread's state shows the key only when there is a schema)."""
    if output is None:
        return {}
    interrupts = output.get("__interrupt__") if isinstance(output, dict) else None
    if not isinstance(interrupts, list):
        return output
    shown = [
        {**i, "response_schema": i.get("response_schema")} if isinstance(i, dict) else i
        for i in interrupts
    ]
    return {**output, "__interrupt__": shown}


async def after_end(after: Callable[[], Awaitable[Any]] | None, run_id: uuid.UUID) -> None:
    """The clean-up once the run ended (a stateless run's thread); its failure does not
    cost the client the output (a temporary thread left behind is swept a minute later)."""
    if after is None:
        return
    try:
        await after()
    except Exception as exc:
        log.warning("run %s: clean-up after the wait failed: %r", run_id, exc)
