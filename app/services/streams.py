"""Reading the event log live (API.md §6.4-6.6, DESIGN I3, I7).

A reader registers with the hub, then loops: read the events after its cursor (with the
run's status, in one snapshot), hand them out, and if the run is still going wait for the
next wake-up (NOTIFY of new events or of the run's end, from any process). It never sleeps
on a timer to find events; the 5 s timeout only produces the heartbeat, and re-reads in
case a notification was lost with the LISTEN connection.

Streams end when the run has ended and every one of its events was handed out, so the
terminal status is committed before any stream of the run closes. The one exception is a
process that stops (``Hub.drain``): its streams end early and cleanly; the SDK sees the run
still going and reconnects, with ``Last-Event-ID``, to a process that serves on.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from app.core.errors import InvalidInput
from app.db import events as event_rows
from app.db import runs as run_rows
from app.db.events import Event
from app.db.notify import Hub
from app.db.retry import retrying

HEARTBEAT_SECONDS = 5.0
BATCH = 500
READ_RETRY_SECONDS = 60.0
"""A stream rides out a database fault this long (retrying its read) instead of ending
with an ``error`` event: the run behind it is retrying too."""
TERMINAL = frozenset(run_rows.TERMINAL)
THREAD_STREAM_MODES = ("run_modes", "lifecycle", "state_update")

_ID = re.compile(r"^([0-9]{1,19})(?:-([0-9]{1,19}|\*))?$")
MAX_EVENT_ID = 2**63 - 1  # event ids are bigints
MAX_MS = 253_402_300_799_999  # the last millisecond of year 9999, as far as timestamps go


class Cursor:
    """Where a reader starts: after an event id, after a time (ms), or live."""

    def __init__(self, *, after: int | None = None, after_ms: int | None = None) -> None:
        self.after = after
        self.after_ms = after_ms

    @property
    def live(self) -> bool:
        return self.after is None and self.after_ms is None

    @classmethod
    def parse(cls, value: str | None, *, strict: bool = False) -> Cursor:
        """A ``Last-Event-ID``: ``<ms>-<id>`` resumes after that event; ``<ms>`` after that
        time; ``-``, ``0`` (and ``-1`` unless ``strict``) replay everything; no header: live.
        ``strict`` (the thread stream) answers 422 for anything else."""
        if value is None or value.strip() == "":
            return cls()
        value = value.strip()
        if value in ("-", "0") or (value == "-1" and not strict):
            return cls(after=0)
        match = _ID.match(value)
        if match is None:
            if strict:
                raise InvalidInput(f"Invalid Last-Event-ID: {value!r}")
            return cls(after=0)
        ms, seq = match.group(1), match.group(2)
        if int(ms) > MAX_MS or (seq is not None and seq != "*" and int(seq) > MAX_EVENT_ID):
            if strict:
                raise InvalidInput(f"Invalid Last-Event-ID: {value[:100]!r}")
            return cls(after=0)
        if seq is not None and seq != "*":
            return cls(after=int(seq))
        return cls(after_ms=int(ms))


class StreamService:
    def __init__(self, pool: asyncpg.Pool[Any], hub: Hub) -> None:
        self.pool = pool
        self.hub = hub

    async def _start(self, cursor: Cursor, **key: Any) -> int:
        if cursor.after is not None:
            return cursor.after
        async with self.pool.acquire() as conn:
            if cursor.after_ms is not None:
                return await event_rows.id_at_ms(conn, cursor.after_ms, **key)
            return await event_rows.last_id(conn, **key)

    async def _read_run(self, run_id: uuid.UUID, after: int) -> tuple[str | None, list[Event]]:
        async with self.pool.acquire() as conn:
            return await event_rows.read_run(conn, run_id, after, BATCH)

    async def _read_thread(self, thread_id: uuid.UUID, after: int) -> tuple[bool, list[Event]]:
        async with self.pool.acquire() as conn:
            return await event_rows.read_thread(conn, thread_id, after, BATCH)

    async def run_events(self, run_id: uuid.UUID, cursor: Cursor) -> AsyncIterator[Event | None]:
        """The run's events after ``cursor`` until it ends; None every 5 s of silence."""
        with self.hub.watch_events(run_id) as wake:
            after = await self._start(cursor, run_id=run_id)
            while True:
                wake.clear()
                status, events = await retrying(
                    functools.partial(self._read_run, run_id, after),
                    READ_RETRY_SECONDS,
                    "reading a stream",
                )
                for event in events:
                    after = event.event_id
                    yield event
                if status is None or (status in TERMINAL and len(events) < BATCH):
                    return
                if len(events) == BATCH:
                    continue
                if self.hub.draining:
                    return  # the process stops: the client reconnects with Last-Event-ID
                try:
                    await asyncio.wait_for(wake.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield None

    async def thread_events(
        self, thread_id: uuid.UUID, cursor: Cursor
    ) -> AsyncIterator[Event | None]:
        """Every event of the thread's runs (and thread-level events) after ``cursor``,
        until the thread is deleted; None every 5 s of silence."""
        with self.hub.watch_events(thread_id) as wake:
            after = await self._start(cursor, thread_id=thread_id)
            while True:
                wake.clear()
                exists, events = await retrying(
                    functools.partial(self._read_thread, thread_id, after),
                    READ_RETRY_SECONDS,
                    "reading a stream",
                )
                for event in events:
                    after = event.event_id
                    yield event
                if not exists or self.hub.draining:
                    return
                if len(events) == BATCH:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield None


def run_mode_filter(modes: list[str]) -> frozenset[str] | None:
    """The join filter from ``stream_mode`` query values (None: every event)."""
    wanted = {m for m in modes if m}
    return frozenset(wanted) if wanted else None


def wanted_by_join(event: str, modes: frozenset[str] | None) -> bool:
    """Whether a join filtered on ``modes`` sends ``event`` (named ``<mode>[|ns...]``)."""
    if modes is None:
        return True
    base = event.split("|", 1)[0]
    if base in ("metadata", "error", "end") or base in modes:
        return True
    if base == "messages":
        return "messages-tuple" in modes
    if base.startswith("messages/"):
        return "messages" in modes
    return False


def thread_modes(values: list[str]) -> frozenset[str]:
    modes: set[str] = set()
    for value in values:
        modes.update(v.strip() for v in value.split(",") if v.strip())
    for mode in modes:
        if mode not in THREAD_STREAM_MODES:
            raise InvalidInput(
                f"Invalid stream_mode: {mode!r}. Expected one of {list(THREAD_STREAM_MODES)}"
            )
    return frozenset(modes or {"run_modes"})


def wanted_by_thread(event: Event, modes: frozenset[str]) -> bool:
    if event.event == "metadata":  # a run's start, or run_done (thread-level)
        return bool(modes & {"run_modes", "lifecycle"})
    if event.run_id is None:
        return event.event in modes  # state_update
    return "run_modes" in modes
