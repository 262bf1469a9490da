"""The webhook outbox (table ``webhook_deliveries``, migration 0010): every statement on it.

A delivery is inserted in its run's finishing transaction, so it exists exactly when the
run's end is committed. Senders (one per worker process) lease due rows with
``FOR UPDATE SKIP LOCKED``: the lease moves ``next_attempt_at`` past the send's timeout and
counts the attempt, and commits before anything is sent, so a sender that dies mid-POST
leaves a row that another sender takes once the lease runs out. The outcome of a POST is
recorded only while the row is still ``pending`` (and, for a retry, still leased by the
attempt that sent it), so at most one success is ever recorded.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db.types import Conn


async def insert(conn: Conn, run_id: uuid.UUID, url: str, payload: dict[str, Any]) -> None:
    """Queue the delivery of ``run_id``'s webhook (due now). Call it inside the run's
    finishing transaction. A run has one delivery: a second insert for it does nothing."""
    await conn.execute(
        """INSERT INTO webhook_deliveries (run_id, url, payload) VALUES ($1, $2, $3)
           ON CONFLICT (run_id) DO NOTHING""",
        run_id,
        url,
        payload,
    )


async def lease_due(conn: Conn, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    """Take up to ``limit`` pending deliveries that are due: each gets one more attempt
    counted and ``next_attempt_at`` moved ``lease_seconds`` ahead (the lease), so no other
    sender takes it meanwhile. Locks the rows it takes (SKIP LOCKED: rows another sender
    is leasing are passed over); commit before sending. Returns delivery_id, run_id, url,
    payload, attempts (the attempt this is, from 1)."""
    rows = await conn.fetch(
        """WITH due AS (
             SELECT delivery_id FROM webhook_deliveries
             WHERE status = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
           UPDATE webhook_deliveries AS d
              SET attempts = d.attempts + 1,
                  next_attempt_at = now() + make_interval(secs => $2)
             FROM due
            WHERE d.delivery_id = due.delivery_id
           RETURNING d.delivery_id, d.run_id, d.url, d.payload, d.attempts""",
        limit,
        lease_seconds,
    )
    return list(rows)


async def next_due_in(conn: Conn) -> float | None:
    """Seconds until the earliest pending delivery is due (0 if one is due now), or None
    when nothing is pending."""
    # Not greatest(..., 0) in SQL: greatest ignores NULL, so an empty outbox read as "due
    # now" and an idle sender polled every 10 ms.
    value = await conn.fetchval(
        """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
             FROM webhook_deliveries WHERE status = 'pending'"""
    )
    return None if value is None else max(float(value), 0.0)


async def mark_delivered(conn: Conn, delivery_id: int) -> bool:
    """Record the success (a 2xx answered); True if this call recorded it. Only a row still
    ``pending`` is changed, so a delivery is recorded ``delivered`` at most once."""
    status = await conn.execute(
        """UPDATE webhook_deliveries
              SET status = 'delivered', delivered_at = now(), last_error = NULL
            WHERE delivery_id = $1 AND status = 'pending'""",
        delivery_id,
    )
    return bool(status.endswith(" 1"))


async def retry_later(
    conn: Conn, delivery_id: int, attempt: int, delay_seconds: float, error: str
) -> bool:
    """Attempt ``attempt`` failed and may be retried: due again in ``delay_seconds``. Only
    while the row is pending and still at that attempt (a sender whose lease ran out and
    was re-leased does not move the newer lease); True if the row was changed."""
    status = await conn.execute(
        """UPDATE webhook_deliveries
              SET next_attempt_at = now() + make_interval(secs => $3), last_error = $4
            WHERE delivery_id = $1 AND status = 'pending' AND attempts = $2""",
        delivery_id,
        attempt,
        delay_seconds,
        error,
    )
    return bool(status.endswith(" 1"))


async def mark_failed(conn: Conn, delivery_id: int, attempt: int, error: str) -> bool:
    """Give up: the last attempt failed, or the receiver refused (4xx other than 429).
    Only while pending and still at ``attempt``; True if the row was changed."""
    status = await conn.execute(
        """UPDATE webhook_deliveries SET status = 'failed', last_error = $3
            WHERE delivery_id = $1 AND status = 'pending' AND attempts = $2""",
        delivery_id,
        attempt,
        error,
    )
    return bool(status.endswith(" 1"))


async def purge_done(conn: Conn, days: int) -> int:
    """Delete delivered and failed rows last tried more than ``days`` ago; how many."""
    status = await conn.execute(
        """DELETE FROM webhook_deliveries
            WHERE status <> 'pending'
              AND coalesce(delivered_at, next_attempt_at) < now() - make_interval(days => $1)""",
        days,
    )
    return int(status.split()[-1])


async def counts(conn: Conn) -> dict[str, int]:
    """Deliveries by status (for /metrics)."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
