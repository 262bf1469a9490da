"""Run events: the durable SSE log (DESIGN I7).

Each row is one SSE event of a run (or a thread-level event with ``run_id`` NULL). Event ids
come from one identity column; a thread has one writer at a time (the worker holding its
active run, or the transaction that ends a run which never started), so ids grow in commit
order within a run and within a thread, and "everything after id N" is a plain range read.
The wire id is ``"<created ms>-<event_id>"``, shaped like the Redis stream ids the
reference server sends.

``stream_watchers`` holds the live readers: a run made by a wait endpoint (kwargs
``events_when_watched``) writes its events only while its run or its thread is watched
(:func:`watched_sql`), since nobody else could read them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from app.db.notify import RUN_EVENTS
from app.db.statuses import TERMINAL_SQL
from app.db.types import Conn

_CREATED_MS = "(extract(epoch FROM e.created_at) * 1000)::bigint"


class Event(NamedTuple):
    event_id: int
    created_ms: int
    run_id: uuid.UUID | None
    event: str
    data: str
    """The event's JSON, exactly as it goes on the wire."""

    @property
    def wire_id(self) -> str:
        return f"{self.created_ms}-{self.event_id}"


def run_done(run_id: uuid.UUID) -> tuple[str, str]:
    """The thread stream's end-of-run event (a thread-level ``metadata`` event)."""
    return "metadata", f'{{"status":"run_done","run_id":"{run_id}"}}'


def events_payload(run_id: uuid.UUID | None, thread_id: uuid.UUID) -> str:
    """NOTIFY payload on RUN_EVENTS: ``<run id or ->:<thread id>``."""
    return f"{run_id or '-'}:{thread_id}"


async def append(
    conn: Conn,
    thread_id: uuid.UUID,
    run_id: uuid.UUID | None,
    events: Sequence[tuple[str, str]],
) -> None:
    """Append events inside the caller's transaction (which holds the thread lock or the
    run's lease) and queue the NOTIFY for its commit."""
    if not events:
        return
    await conn.execute(
        """INSERT INTO run_events (run_id, thread_id, event, data)
           SELECT $1, $2, e.event, e.data::json
             FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS e(event, data, n)
            ORDER BY e.n""",
        run_id,
        thread_id,
        [e for e, _ in events],
        [d for _, d in events],
    )
    await conn.execute("SELECT pg_notify($1, $2)", RUN_EVENTS, events_payload(run_id, thread_id))


async def read_run(
    conn: Conn, run_id: uuid.UUID, after: int, limit: int
) -> tuple[str | None, list[Event]]:
    """(run status, its events after ``after``) read in one snapshot, so a terminal status
    guarantees every event of the run is in the list or was read before. Status None: the
    run does not exist (any more)."""
    rows = await conn.fetch(
        f"""SELECT r.status, e.event_id, {_CREATED_MS} AS created_ms, e.event, e.data::text
              FROM runs r
              LEFT JOIN LATERAL (
                SELECT * FROM run_events
                 WHERE run_id = r.run_id AND event_id > $2
                 ORDER BY event_id LIMIT $3) e ON true
             WHERE r.run_id = $1
             ORDER BY e.event_id""",
        run_id,
        after,
        limit,
    )
    if not rows:
        return None, []
    events = [
        Event(r["event_id"], r["created_ms"], run_id, r["event"], r["data"])
        for r in rows
        if r["event_id"] is not None
    ]
    return rows[0]["status"], events


async def read_thread(
    conn: Conn, thread_id: uuid.UUID, after: int, limit: int
) -> tuple[bool, list[Event]]:
    """(thread exists, its events after ``after``), across runs, in id order."""
    rows = await conn.fetch(
        f"""SELECT e.event_id, {_CREATED_MS} AS created_ms, e.run_id, e.event, e.data::text
              FROM threads t
              LEFT JOIN LATERAL (
                SELECT * FROM run_events
                 WHERE thread_id = t.thread_id AND event_id > $2
                 ORDER BY event_id LIMIT $3) e ON true
             WHERE t.thread_id = $1
             ORDER BY e.event_id""",
        thread_id,
        after,
        limit,
    )
    if not rows:
        return False, []
    return True, [
        Event(r["event_id"], r["created_ms"], r["run_id"], r["event"], r["data"])
        for r in rows
        if r["event_id"] is not None
    ]


async def last_id(conn: Conn, *, run_id: uuid.UUID | None = None, thread_id: Any = None) -> int:
    """The newest event id of a run or a thread (0 if none): where a live-only reader starts."""
    if run_id is not None:
        sql = "SELECT max(event_id) FROM run_events WHERE run_id = $1"
        key: Any = run_id
    else:
        sql = "SELECT max(event_id) FROM run_events WHERE thread_id = $1"
        key = thread_id
    return int(await conn.fetchval(sql, key) or 0)


async def id_at_ms(
    conn: Conn, ms: int, *, run_id: uuid.UUID | None = None, thread_id: Any = None
) -> int:
    """The newest event id created at or before ``ms`` (for a ``Last-Event-ID`` of bare ms)."""
    column, key = ("run_id", run_id) if run_id is not None else ("thread_id", thread_id)
    value = await conn.fetchval(
        f"SELECT max(event_id) FROM run_events WHERE {column} = $1 "
        "AND created_at <= to_timestamp($2::float8 / 1000)",
        key,
        ms,
    )
    return int(value or 0)


WATCH_SECONDS = 30.0
"""A watcher's row holds this long; its reader renews it every third of that."""


def watched_sql(run: str, thread: str) -> str:
    """SQL: somebody reads the run (``run``: its id as SQL) or its thread live."""
    return (
        f"EXISTS (SELECT 1 FROM stream_watchers WHERE watched IN ({run}, {thread}) "
        "AND expires_at > now())"
    )


async def watch(conn: Conn, watcher_id: uuid.UUID, watched: uuid.UUID) -> None:
    """Register (or renew) a live reader of ``watched`` (a run or a thread)."""
    await conn.execute(
        """INSERT INTO stream_watchers (watcher_id, watched, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (watcher_id) DO UPDATE SET expires_at = EXCLUDED.expires_at""",
        watcher_id,
        watched,
        WATCH_SECONDS,
    )


async def unwatch(conn: Conn, watcher_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM stream_watchers WHERE watcher_id = $1", watcher_id)


PURGE_BATCH = 10_000


async def purge(
    conn: Conn, ttl_seconds: float, batch: int = PURGE_BATCH, budget_seconds: float = 2.0
) -> int:
    """Delete events of runs that ended more than ``ttl_seconds`` ago, and thread-level
    events older than that, ``batch`` rows per statement until none is left or
    ``budget_seconds`` are spent (one batch per sweep capped the rate at 1,000 events/s).
    Events of active runs are kept however old they are. Returns how many went. Watchers
    whose reader stopped renewing (its process died) go too."""
    deadline = time.monotonic() + budget_seconds
    deleted = 0
    await conn.execute("DELETE FROM stream_watchers WHERE expires_at < now()")
    while True:
        result = await conn.execute(
            f"""DELETE FROM run_events WHERE event_id IN (
                 SELECT e.event_id FROM run_events e
                   LEFT JOIN runs r ON r.run_id = e.run_id
                  WHERE e.created_at < now() - make_interval(secs => $1)
                    AND (e.run_id IS NULL
                         OR (r.status IN {TERMINAL_SQL}
                             AND r.ended_at < now() - make_interval(secs => $1)))
                  LIMIT $2)""",
            ttl_seconds,
            batch,
        )
        n = int(result.split()[-1])
        deleted += n
        if n < batch or time.monotonic() >= deadline:
            return deleted
