"""The workers table: one row per process that runs runs, heartbeating (DESIGN I4).

A worker pool registers its row at start (``register``), its lease keeper heartbeats it
every ``interval`` seconds in the same statement that renews the leases of the runs it
executes (``beat``), and the pool deletes it on a graceful stop (``deregister``).

Recovery trusts this table, not ``host:pid``: a pid says nothing across pid namespaces
(two containers with one hostname both run as pid 1). The running runs of a lease owner
that has no row, or whose heartbeat is older than ``dead_after``, are re-queued by the next
``beat`` of any live worker that may judge (see ``beat``), so a SIGKILLed worker's runs come
back within about ``dead_after`` seconds instead of a lease period. Their next attempt
resumes from the run's last checkpoint; the dead attempt, should it be alive after all
(paused, partitioned), is fenced off by its lease token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from app.db.notify import RUN_READY
from app.db.runs import RENEW_WHERE, REQUEUE_SET
from app.db.types import Conn

HEARTBEAT_SECONDS = 1.0
"""The longest interval between two heartbeats (shorter when a third of the lease is)."""
DEAD_AFTER_BEATS = 5
"""A worker that missed this many heartbeats (and at most a lease period) is dead."""
FORGET_AFTER_SECONDS = 600.0
"""A dead worker's row (with no runs left) is deleted after this long without heartbeat."""


def timing(lease_seconds: float) -> tuple[float, float]:
    """(heartbeat interval, dead after) for a lease of ``lease_seconds``: a heartbeat at
    least every third of the lease (so a renewal can fail twice before the lease ends) and
    at least every ``HEARTBEAT_SECONDS``; dead after ``DEAD_AFTER_BEATS`` missed beats, never
    later than the lease itself would expire."""
    interval = min(lease_seconds / 3, HEARTBEAT_SECONDS)
    return interval, min(lease_seconds, DEAD_AFTER_BEATS * interval)


@dataclass(frozen=True)
class Worker:
    """A process's row: its lease owner name (``host:pid:random``), host, pid, version."""

    worker_id: str
    host: str
    pid: int
    version: str | None


@dataclass(frozen=True)
class Beat:
    """What one heartbeat found."""

    held: frozenset[uuid.UUID]
    """The runs whose lease was extended (the others of the request are lost)."""
    inserted: bool
    """The worker's row had vanished and was inserted again (e.g. PostgreSQL lost it)."""
    requeued: tuple[uuid.UUID, ...]
    """Runs of dead workers given back as ``pending`` by this beat."""


async def register(conn: Conn, worker: Worker) -> None:
    """Insert (or refresh) the worker's row, heartbeat now."""
    await conn.execute(
        """INSERT INTO workers (worker_id, host, pid, version) VALUES ($1, $2, $3, $4)
           ON CONFLICT (worker_id) DO UPDATE
           SET host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
               heartbeat_at = now()""",
        worker.worker_id,
        worker.host,
        worker.pid,
        worker.version,
    )


async def deregister(conn: Conn, worker_id: str) -> None:
    """Delete the worker's row (graceful stop: its runs were finished or handed back)."""
    await conn.execute("DELETE FROM workers WHERE worker_id = $1", worker_id)


async def count_alive(
    conn: Conn, within_seconds: float = DEAD_AFTER_BEATS * HEARTBEAT_SECONDS
) -> int:
    """Workers whose last heartbeat is at most ``within_seconds`` old."""
    value = await conn.fetchval(
        "SELECT count(*) FROM workers WHERE heartbeat_at >= now() - make_interval(secs => $1)",
        within_seconds,
    )
    return int(value or 0)


_BEAT = f"""
WITH me AS (
    INSERT INTO workers (worker_id, host, pid, version) VALUES ($1, $2, $3, $4)
    ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = now()
    RETURNING (xmax = 0) AS inserted
),
renewed AS (
    UPDATE runs r SET lease_expires_at = now() + make_interval(secs => $5)
      FROM unnest($6::uuid[], $7::uuid[]) AS h(run_id, token)
     WHERE {RENEW_WHERE}
    RETURNING r.run_id
),
judge AS (
    -- Nobody is judged by a worker that may not judge ($8 = 0), nor within dead_after of
    -- the postmaster's start (every heartbeat is stale after a restart).
    SELECT make_interval(secs => $8) AS dead_after
     WHERE $8 > 0 AND pg_postmaster_start_time() < now() - make_interval(secs => $8)
),
dead AS (
    SELECT w.worker_id FROM workers w, judge
     WHERE w.worker_id <> $1 AND w.heartbeat_at < now() - judge.dead_after
),
requeued AS (
    UPDATE runs r SET {REQUEUE_SET}
      FROM judge
     WHERE r.status = 'running' AND r.lease_owner <> $1
       AND (r.lease_owner IN (SELECT worker_id FROM dead)
            -- No row: the claim is older than dead_after too, so a worker that registered
            -- and claimed after this statement's snapshot is never taken for dead.
            OR (NOT EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = r.lease_owner)
                AND r.updated_at < now() - judge.dead_after))
    RETURNING r.run_id
),
ready AS (
    SELECT pg_notify('{RUN_READY}', '') WHERE EXISTS (SELECT 1 FROM requeued)
),
forgotten AS (
    DELETE FROM workers w USING judge
     WHERE w.worker_id <> $1 AND w.heartbeat_at < now() - make_interval(secs => $9)
       AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.status = 'running'
                          AND r.lease_owner = w.worker_id)
    RETURNING 1
)
SELECT (SELECT inserted FROM me) AS inserted,
       ARRAY(SELECT run_id FROM renewed) AS held,
       ARRAY(SELECT run_id FROM requeued) AS requeued,
       (SELECT count(*) FROM ready) AS notified,
       (SELECT count(*) FROM forgotten) AS forgotten
"""


async def beat(
    conn: Conn,
    worker: Worker,
    *,
    lease_seconds: float,
    held: list[tuple[uuid.UUID, uuid.UUID]],
    judge_dead_after: float | None,
) -> Beat:
    """One heartbeat, in one statement (autocommit): upsert the worker's row with
    ``heartbeat_at = now()`` (inserted again if it vanished), extend the lease of each
    (run id, lease token) in ``held`` only while that attempt still holds its run (fenced
    by the token, not by the owner), and, when ``judge_dead_after`` is given, re-queue the
    running runs of dead lease owners (NOTIFY ``run_ready``) and delete worker rows
    without runs and without heartbeat for ``FORGET_AFTER_SECONDS``.

    Dead: a worker (other than this one) whose heartbeat is older than
    ``judge_dead_after``, or a lease owner with no row whose run was last updated longer
    ago than that. The rule that keeps a database outage from making every worker look
    dead at once: the caller passes ``judge_dead_after`` only once it has itself
    heartbeated without a failure (and without a gap longer than ``dead_after``) for
    ``dead_after`` seconds, since every live worker then had that long to reach the
    database again; and nobody is judged dead until ``dead_after`` has passed since
    ``pg_postmaster_start_time()``. A worker judged dead that was alive after all loses
    its runs (its writes are refused from then on, and its next beat reports the runs it
    no longer holds); no run is executed by two attempts that both write.

    Row locks: the renewed and re-queued run rows, the worker's own row, forgotten rows."""
    row: asyncpg.Record | None = await conn.fetchrow(
        _BEAT,
        worker.worker_id,
        worker.host,
        worker.pid,
        worker.version,
        lease_seconds,
        [run_id for run_id, _ in held],
        [token for _, token in held],
        judge_dead_after or 0.0,
        max(FORGET_AFTER_SECONDS, judge_dead_after or 0.0),
    )
    assert row is not None
    return Beat(
        held=frozenset(row["held"]),
        inserted=bool(row["inserted"]),
        requeued=tuple(row["requeued"]),
    )
