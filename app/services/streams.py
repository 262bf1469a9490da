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
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import asyncpg
import msgspec

from app.core import jsonable
from app.core.errors import InvalidInput
from app.core.runs import started
from app.db import events as event_rows
from app.db import statuses
from app.db.errors import is_transient
from app.db.events import Event
from app.db.loops import Backoff
from app.db.notify import Hub

log = logging.getLogger("turnstile.streams")
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0
BATCH = 500
TERMINAL = frozenset(statuses.TERMINAL)
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


class Watch:
    """A live reader's row in ``stream_watchers``, renewed while it reads."""

    def __init__(self, watched: uuid.UUID) -> None:
        self.watcher_id = uuid.uuid4()
        self.watched = watched
        self.renewed_at: float | None = None

    @property
    def due(self) -> bool:
        return self.renewed_at is None or (
            time.monotonic() - self.renewed_at > event_rows.WATCH_SECONDS / 3
        )

    async def renew(self, conn: Any) -> None:
        await event_rows.watch(conn, self.watcher_id, self.watched)
        self.renewed_at = time.monotonic()


class StreamService:
    def __init__(self, pool: asyncpg.Pool[Any], hub: Hub) -> None:
        self.pool = pool
        self.hub = hub
        self._unwatching: set[asyncio.Task[None]] = set()

    async def _start(self, cursor: Cursor, watch: Watch | None, **key: Any) -> int:
        """Where the reader starts; it is registered as a watcher first (so a run that
        writes its events only while watched writes them from here on)."""
        if cursor.after is not None and watch is None:
            return cursor.after
        async with self.pool.acquire() as conn:
            if watch is not None:
                await watch.renew(conn)
            if cursor.after is not None:
                return cursor.after
            if cursor.after_ms is not None:
                return await event_rows.id_at_ms(conn, cursor.after_ms, **key)
            return await event_rows.last_id(conn, **key)

    @contextlib.contextmanager
    def _watching(self, watch: Watch | None) -> Iterator[None]:
        """Drop the reader's watcher row when it stops (best effort: the row also lapses
        by itself within ``WATCH_SECONDS``)."""
        try:
            yield
        finally:
            if watch is not None and watch.renewed_at is not None:
                with contextlib.suppress(RuntimeError):  # no loop any more: it lapses
                    task = asyncio.get_running_loop().create_task(self._unwatch(watch))
                    self._unwatching.add(task)
                    task.add_done_callback(self._unwatching.discard)

    async def _unwatch(self, watch: Watch) -> None:
        try:
            async with self.pool.acquire() as conn:
                await event_rows.unwatch(conn, watch.watcher_id)
        except Exception as exc:  # it lapses by itself
            log.debug("stream watcher %s: not dropped: %r", watch.watcher_id, exc)

    async def _retry(
        self, read: Callable[[], Awaitable[T]], wake: asyncio.Event, what: str
    ) -> AsyncIterator[T | None]:
        """``read()`` until it succeeds, as its one value; a transient database error is
        retried with backoff (cut short by ``wake``: the LISTEN connection's catch-up after
        a reconnect), yielding None every ``HEARTBEAT_SECONDS`` meanwhile so the client
        keeps its connection. Other errors, and faults while the process drains, raise."""
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            try:
                yield await read()
                return
            except Exception as exc:
                if not is_transient(exc) or self.hub.draining:
                    raise
                log.info("stream of %s: reading failed, retrying: %r", what, exc)
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), backoff.next())
            if loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                quiet_since = loop.time()
                yield None

    async def run_events(
        self, run_id: uuid.UUID, cursor: Cursor, *, watch: bool = True
    ) -> AsyncIterator[Event | None]:
        """The run's events after ``cursor`` until it ends; None every 5 s of silence.
        A read that fails on a database fault is retried from the cursor (DESIGN I10).
        ``watch``: register as a watcher of the run (not needed by the request that
        created the run to stream it: such a run writes its events anyway)."""
        watcher = Watch(run_id) if watch else None

        async def start() -> int:
            return await self._start(cursor, watcher, run_id=run_id)

        async def read() -> tuple[str | None, list[Event]]:
            async with self.pool.acquire() as conn:
                if watcher is not None and watcher.due:
                    await watcher.renew(conn)
                return await event_rows.read_run(conn, run_id, after, BATCH)

        with self.hub.watch_events(run_id) as wake, self._watching(watcher):
            after = 0
            async for value in self._retry(start, wake, f"run {run_id}"):
                if value is None:
                    yield None
                else:
                    after = value
            while True:
                wake.clear()
                got: tuple[str | None, list[Event]] | None = None
                async for result in self._retry(read, wake, f"run {run_id}"):
                    if result is None:
                        yield None
                    else:
                        got = result
                assert got is not None
                status, events = got
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

    async def new_run_events(self, run_id: uuid.UUID) -> AsyncIterator[Event | None]:
        """``run_events`` from the start, for the request that just created the run and
        streams it without ids: its first event (``metadata`` of attempt 1) at once, before
        any worker started the run; the worker's own copy of that event is then skipped."""
        first = started(run_id, 1)
        yield Event(0, 0, run_id, "metadata", jsonable.dumps_str(first))
        sent = True
        async for event in self.run_events(run_id, Cursor(after=0), watch=False):
            if sent and _is(event, "metadata", first):
                sent = False
                continue  # the worker's copy of what was sent already
            yield event

    async def thread_events(
        self, thread_id: uuid.UUID, cursor: Cursor
    ) -> AsyncIterator[Event | None]:
        """Every event of the thread's runs (and thread-level events) after ``cursor``,
        until the thread is deleted; None every 5 s of silence. A read that fails on a
        database fault is retried from the cursor."""

        watcher = Watch(thread_id)

        async def start() -> int:
            return await self._start(cursor, watcher, thread_id=thread_id)

        async def read() -> tuple[bool, list[Event]]:
            async with self.pool.acquire() as conn:
                if watcher.due:
                    await watcher.renew(conn)
                return await event_rows.read_thread(conn, thread_id, after, BATCH)

        with self.hub.watch_events(thread_id) as wake, self._watching(watcher):
            after = 0
            async for value in self._retry(start, wake, f"thread {thread_id}"):
                if value is None:
                    yield None
                else:
                    after = value
            while True:
                wake.clear()
                got: tuple[bool, list[Event]] | None = None
                async for result in self._retry(read, wake, f"thread {thread_id}"):
                    if result is None:
                        yield None
                    else:
                        got = result
                assert got is not None
                exists, events = got
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


def _is(event: Event | None, name: str, data: Any) -> bool:
    """Whether ``event`` is the event ``name`` carrying ``data`` (compared as values)."""
    return event is not None and event.event == name and msgspec.json.decode(event.data) == data


def run_mode_filter(modes: list[str]) -> frozenset[str] | None:
    """The join filter from ``stream_mode`` query values (None: every event)."""
    wanted = {m for m in modes if m}
    return frozenset(wanted) if wanted else None


def wanted_by_join(event: str, modes: frozenset[str] | None) -> bool:
    """Whether a join filtered on ``modes`` sends ``event`` (named ``<mode>[|ns...]``):
    errors and the end always, ``metadata`` only when asked for (as the reference)."""
    if modes is None:
        return True
    base = event.split("|", 1)[0]
    if base in ("error", "end") or base in modes:
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
