"""Wake-ups across processes: LISTEN/NOTIFY as a hint, the tables as the truth (DESIGN I5).

Channels (payloads carry ids only):
* ``turnstile_run_ready``  — a run became ``pending`` (created or promoted): wake workers.
  Payload ``<hub token>[:<due epoch>]``: a hub ignores its own token (it signalled its
  workers directly after the commit) and remembers the due time of a delayed run, so no
  dispatcher polls for delayed runs.
* ``turnstile_run_done``   — ``<run_id>`` reached a terminal state: wake joiners and waiters.
* ``turnstile_run_cancel`` — ``<run_id>``: the worker running it should stop.
* ``turnstile_run_events`` — ``<run_id or ->:<thread_id>``: stream events were committed;
  wake the streams reading that run or thread (they then read ``run_events``).

The enqueue's NOTIFY is sent in the same transaction as the insert, so it is delivered only
if the run is committed. In-process listeners are also signalled directly after commit, so a
run created by this process never waits for the round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg

from app.core.bounded import json_size
from app.db.loops import Health
from app.db.types import Conn
from app.db.urls import plain_url

log = logging.getLogger("turnstile.notify")

RUN_READY = "turnstile_run_ready"
RUN_DONE = "turnstile_run_done"
RUN_CANCEL = "turnstile_run_cancel"
RUN_EVENTS = "turnstile_run_events"
CHANNELS = (RUN_READY, RUN_DONE, RUN_CANCEL, RUN_EVENTS)
DUE_LIMIT = 4096
"""How many due times of delayed runs the hub remembers."""
RECENT_DONE = 4096
"""How many recently ended runs the hub remembers (with their output when they ended in
this process), so a waiter that starts after the end needs no query."""
RECENT_BYTES = 16 * 1024 * 1024
"""The outputs the hub keeps, at most this many bytes (as JSON) in all; past that the
oldest are dropped to "ended, read the row"."""
RECENT_ENTRY_BYTES = 256 * 1024
"""An output larger than this (as JSON) is not kept at all: "ended, read the row"."""


CONNECT_TIMEOUT = 5.0
PING_SECONDS = 10.0
PING_TIMEOUT = 5.0
LISTEN_MAX_PAUSE = 1.0
"""The LISTEN connection retries at most every second while down: it is how this process
learns that the database is back, and its catch-up wakes the rest."""


class ConnectionLost(ConnectionError):
    """The LISTEN connection closed (the server restarted, the backend was terminated...)."""


class _Unknown:
    """An ended run whose output this process does not hold (it ended elsewhere)."""


UNKNOWN = _Unknown()


async def notify(conn: Conn, channel: str, payload: str = "") -> None:
    """Queue a NOTIFY on ``conn`` (delivered when its transaction commits)."""
    await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class Hub:
    """This process's end of the channels: one LISTEN connection, many local subscribers."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.run_ready = asyncio.Event()
        self.token = uuid.uuid4().hex[:12]
        """Sent with this process's ``run_ready`` NOTIFYs, so their echo is ignored."""
        self._due: list[float] = []  # epoch seconds when known delayed runs become due
        self._recent: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._recent_sizes: dict[uuid.UUID, int] = {}
        """The JSON size of each output ``_recent`` holds, oldest first."""
        self._recent_bytes = 0
        self.finishing: set[uuid.UUID] = set()
        """Runs whose finish this process is committing: it signals their end itself, with
        the output, once the commit returns (their NOTIFY may arrive first)."""
        self._done: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._events: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._cancel_handlers: list[Callable[[uuid.UUID], None]] = []
        self._conn: asyncpg.Connection[Any] | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.health = Health()
        """This process's loops (the LISTEN connection's and, with workers, the pool's);
        ``/ok`` and ``/metrics`` read it."""
        self._closing = False
        self.draining = False
        """Set when the process stops: streams end so their clients reconnect elsewhere."""
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connected(self) -> bool:
        """Whether the LISTEN connection is up (a cheap sign that the database is reachable)."""
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.health.bind(self._loop)
        await self._connect()
        self._task = asyncio.create_task(self._listen(), name="turnstile-listen")

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(plain_url(self.database_url), timeout=CONNECT_TIMEOUT)
        try:
            conn.add_termination_listener(self._on_termination)
            for channel in CHANNELS:
                await conn.add_listener(channel, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn

    def _on_termination(self, conn: Any) -> None:
        if conn is self._conn:
            self._lost.set()

    async def _listen(self) -> None:
        """Keep the LISTEN connection up, forever. Its loss is noticed at once (termination
        listener) or by a ping every ``PING_SECONDS``; then it reconnects with backoff, and
        once back makes up for the NOTIFYs it missed with one catch-up (``_catch_up``)."""
        guard = self.health.guard("listen", cap=LISTEN_MAX_PAUSE)
        while not self._closing:
            try:
                if not self.connected:
                    await self._connect()
                    guard.succeeded()
                    self._catch_up()
                await self._until_lost()
            except Exception as exc:  # everything but CancelledError: the loop must go on
                self._drop()
                if self._closing:
                    return
                await self.health.pause(guard.failed(exc))

    async def _until_lost(self) -> None:
        """Return never; raise ``ConnectionLost`` when the connection is gone."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), PING_SECONDS)
            conn = self._conn
            if self._lost.is_set() or conn is None or conn.is_closed():
                raise ConnectionLost("the LISTEN connection was closed")
            # A silent network (no FIN, no RST) closes nothing: ask. The question is a
            # LISTEN again (a no-op on a listening session), so pg_stat_activity still
            # shows the session for what it is.
            await conn.execute(f'LISTEN "{RUN_READY}"', timeout=PING_TIMEOUT)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _catch_up(self) -> None:
        """After a reconnect: wake the dispatcher and every waiter and stream reader, so
        they re-read the tables and find what a NOTIFY missed while down would have said."""
        log.info("LISTEN connection back: catching up on missed notifications")
        self.run_ready.set()
        for watchers in (self._done, self._events):
            for events in list(watchers.values()):
                for event in list(events):
                    event.set()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), CONNECT_TIMEOUT)
            self._drop()

    def drain(self) -> None:
        """Wake every reader for the last time (they see ``draining`` and end)."""
        self.draining = True
        self.run_ready.set()
        for watchers in (self._done, self._events):
            for events in watchers.values():
                for event in events:
                    event.set()

    def drain_threadsafe(self) -> None:
        """``drain`` from a signal handler or another thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.drain)

    def _on_notification(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if channel == RUN_READY:
            token, _, due = payload.partition(":")
            if due:
                with contextlib.suppress(ValueError):
                    self.note_due(float(due))
            if token != self.token:
                self.run_ready.set()
            return
        if channel == RUN_EVENTS:
            run_part, _, thread_part = payload.partition(":")
            for part in (run_part, thread_part):
                with contextlib.suppress(ValueError):
                    self.signal_events(uuid.UUID(part))
            return
        try:
            run_id = uuid.UUID(payload)
        except ValueError:
            return
        if channel == RUN_DONE:
            if run_id not in self.finishing:
                self.signal_done(run_id)
        elif channel == RUN_CANCEL:
            self.signal_cancel(run_id)

    def ready_payload(self, due: float | None = None) -> str:
        """The ``run_ready`` payload for a NOTIFY this process follows with ``signal_ready``
        after commit (``due``: when a delayed run becomes claimable, epoch seconds)."""
        return self.token if due is None else f"{self.token}:{due:.3f}"

    def note_due(self, due: float) -> None:
        heapq.heappush(self._due, due)
        if len(self._due) > DUE_LIMIT:
            # A process without workers never pops (no dispatcher): keep the heap bounded.
            # Past due times go first, then the latest ones; a delayed run whose time is
            # forgotten is still found by the dispatcher's fallback poll.
            now = time.time()
            self._due = heapq.nsmallest(DUE_LIMIT // 2, (d for d in self._due if d > now))
            heapq.heapify(self._due)

    def next_due(self) -> float | None:
        """Seconds until the earliest known delayed run is due. Due times already passed
        are dropped: call it after a claim, which took those runs. (A run missed through
        clock skew between hosts is found by the dispatcher's fallback poll.)"""
        now = time.time()
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
        return None if not self._due else max(self._due[0] - now, 0.0)

    # In-process signals (also called right after this process commits).
    def signal_ready(self) -> None:
        self.run_ready.set()

    def signal_done(self, run_id: uuid.UUID, output: Any = UNKNOWN) -> None:
        """``run_id`` ended; ``output`` is what it returned when it ended in this process
        (the NOTIFY echo that follows does not overwrite it)."""
        if output is not UNKNOWN or run_id not in self._recent:
            self._remember(run_id, output)
        for watchers in (self._done, self._events):  # a stream ends when its run does
            for event in watchers.get(run_id, ()):
                event.set()

    def _remember(self, run_id: uuid.UUID, output: Any) -> None:
        """Keep ``run_id``'s end (and ``output`` while the byte budgets allow), evicting
        the oldest: entries past ``RECENT_DONE``, outputs past ``RECENT_BYTES``."""
        self._forget_output(run_id)
        if output is not UNKNOWN:
            size = json_size(output)
            if size is None or size > RECENT_ENTRY_BYTES:
                output = UNKNOWN
            else:
                self._recent_sizes[run_id] = size
                self._recent_bytes += size
        self._recent[run_id] = output
        self._recent.move_to_end(run_id)
        while len(self._recent) > RECENT_DONE:
            old, _ = self._recent.popitem(last=False)
            self._forget_output(old)
        while self._recent_bytes > RECENT_BYTES:
            old = next(iter(self._recent_sizes))
            self._forget_output(old)
            self._recent[old] = UNKNOWN  # still known to have ended: its row has the output

    def _forget_output(self, run_id: uuid.UUID) -> None:
        size = self._recent_sizes.pop(run_id, None)
        if size is not None:
            self._recent_bytes -= size

    def cache_stats(self) -> dict[str, int]:
        """The recent-outcome cache: runs remembered, outputs held, their bytes (JSON)."""
        return {
            "entries": len(self._recent),
            "outputs": len(self._recent_sizes),
            "bytes": self._recent_bytes,
        }

    def signal_events(self, key: uuid.UUID) -> None:
        """New events of run or thread ``key`` are committed."""
        for event in self._events.get(key, ()):
            event.set()

    def signal_cancel(self, run_id: uuid.UUID) -> None:
        for handler in self._cancel_handlers:
            handler(run_id)

    def on_cancel(self, handler: Callable[[uuid.UUID], None]) -> None:
        self._cancel_handlers.append(handler)

    def recent_outcome(self, run_id: uuid.UUID) -> Any:
        """None if this hub has not seen ``run_id`` end; its output if it ended here;
        ``UNKNOWN`` if it ended elsewhere (read the row)."""
        return self._recent.get(run_id)

    def watch_done(self, run_id: uuid.UUID) -> contextlib.AbstractContextManager[asyncio.Event]:
        """An Event set when ``run_id`` is reported done; register before checking the row."""
        return _watch(self._done, run_id)

    def watch_events(self, key: uuid.UUID) -> contextlib.AbstractContextManager[asyncio.Event]:
        """An Event set when events of run or thread ``key`` are committed (also when it
        ends: the finishing transaction writes events too); register before reading."""
        return _watch(self._events, key)


@contextlib.contextmanager
def _watch(
    watchers: dict[uuid.UUID, set[asyncio.Event]], key: uuid.UUID
) -> Iterator[asyncio.Event]:
    event = asyncio.Event()
    watchers[key].add(event)
    try:
        yield event
    finally:
        events = watchers.get(key)
        if events is not None:
            events.discard(event)
            if not events:
                del watchers[key]
