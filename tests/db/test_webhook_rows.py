"""The webhook outbox's SQL: when the sender should look next."""

from __future__ import annotations

import asyncpg

from app.db import webhooks
from tests.db.rows import insert_run


async def test_next_due_in_is_none_for_an_empty_outbox_and_never_negative(
    pool: asyncpg.Pool,
) -> None:
    """An empty outbox has nothing due (None: the sender sleeps its poll), not "due now"
    (it polled every 10 ms while idle); a delivery due in the past is due now (0)."""
    async with pool.acquire() as conn:
        assert await webhooks.next_due_in(conn) is None
        _, run_id = await insert_run(conn, status="success")
        await webhooks.insert(conn, run_id, "http://127.0.0.1:9/hook", {"status": "success"})
        await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 minute'"
        )
        assert 55 < (await webhooks.next_due_in(conn) or 0) <= 60
        await conn.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 minute'"
        )
        assert await webhooks.next_due_in(conn) == 0.0
        await conn.execute("UPDATE webhook_deliveries SET status = 'delivered'")
        assert await webhooks.next_due_in(conn) is None
