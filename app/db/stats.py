"""What ``/ok`` and ``/metrics`` read from the database: a ping, and the queue's gauges."""

from __future__ import annotations

from app.db import webhooks
from app.db.statuses import WAITING_SQL, WEBHOOK_STATUSES
from app.db.types import Conn

QUEUE_SQL = f"""
SELECT
  (SELECT count(*) FROM runs WHERE status IN {WAITING_SQL}) AS runs_pending,
  (SELECT count(*) FROM runs WHERE status = 'running') AS runs_running,
  (SELECT count(*) FROM runs WHERE status = 'pending' AND created_at <= now()) AS runs_due,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM runs
    WHERE status = 'pending' AND created_at <= now()) AS oldest_pending_seconds,
  (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM runs
    WHERE status IN {WAITING_SQL} AND created_at <= now()) AS oldest_waiting_seconds,
  (SELECT coalesce(percentile_cont(0.5) WITHIN GROUP
      (ORDER BY extract(epoch FROM now() - created_at)), 0) FROM runs
    WHERE status IN {WAITING_SQL} AND created_at <= now()) AS median_waiting_seconds,
  (SELECT count(DISTINCT lease_owner) FROM runs WHERE status = 'running') AS workers_busy,
  (SELECT count(*) FROM threads WHERE status = 'busy') AS threads_busy,
  (SELECT count(*) FROM crons WHERE enabled) AS crons_enabled
"""


async def ping(conn: Conn) -> None:
    """One round trip that touches no table: the database answers."""
    await conn.fetchval("SELECT 1")


async def queue(conn: Conn) -> dict[str, float | int]:
    """The run queue (how long the runs due have waited: the oldest claimable one, and the
    oldest and the median of all, queued behind another run included), workers busy,
    threads busy, crons enabled, and the webhook outbox by status (``webhooks_<status>``,
    each status present)."""
    row = await conn.fetchrow(QUEUE_SQL)
    assert row is not None
    out: dict[str, float | int] = {
        k: float(v) if k.endswith("_seconds") else int(v) for k, v in dict(row).items()
    }
    outbox = await webhooks.counts(conn)
    for status in WEBHOOK_STATUSES:
        out[f"webhooks_{status}"] = outbox.get(status, 0)
    return out
