"""Cron rows. Callers own the transaction."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg

from app.core.access import Access
from app.db.access import Where
from app.db.types import Conn

COLUMNS = (
    "cron_id, assistant_id, thread_id, schedule, timezone, payload, metadata, enabled, "
    "end_time, next_run_date, on_run_completed, created_at, updated_at, auth_user"
)


async def insert(conn: Conn, values: dict[str, Any]) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO crons (cron_id, assistant_id, thread_id, schedule, timezone, payload,
                               metadata, enabled, end_time, next_run_date, on_run_completed,
                               auth_user)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            RETURNING {COLUMNS}""",
        values["cron_id"],
        values["assistant_id"],
        values["thread_id"],
        values["schedule"],
        values["timezone"],
        values["payload"],
        values["metadata"],
        values["enabled"],
        values["end_time"],
        values["next_run_date"],
        values["on_run_completed"],
        values.get("auth_user"),
    )
    assert row is not None
    return row


def _visible(where: Where, access: Access) -> None:
    """A cron is seen through its own metadata (``crons.*`` auth filters)."""
    access.apply(where, "c.metadata")


def _cols() -> str:
    return ", ".join("c." + c.strip() for c in COLUMNS.split(","))


async def get(
    conn: Conn, cron_id: uuid.UUID, access: Access, *, lock: bool = False
) -> asyncpg.Record | None:
    where = Where()
    where.add(f"c.cron_id = {where.param(cron_id)}")
    _visible(where, access)
    suffix = " FOR UPDATE OF c" if lock else ""
    return await conn.fetchrow(
        f"SELECT {_cols()} FROM crons c WHERE {where.sql()}{suffix}", *where.params
    )


async def update(conn: Conn, cron_id: uuid.UUID, values: dict[str, Any]) -> asyncpg.Record:
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(values, start=2))
    row = await conn.fetchrow(
        f"UPDATE crons SET {sets}, updated_at = now() WHERE cron_id = $1 RETURNING {COLUMNS}",
        cron_id,
        *values.values(),
    )
    assert row is not None
    return row


async def delete(conn: Conn, cron_id: uuid.UUID, access: Access) -> bool:
    where = Where()
    where.add(f"c.cron_id = {where.param(cron_id)}")
    _visible(where, access)
    return (
        await conn.fetchval(
            f"DELETE FROM crons c WHERE {where.sql()} RETURNING true", *where.params
        )
        is not None
    )


def filters(
    where: Where,
    access: Access,
    *,
    assistant_id: uuid.UUID | None,
    thread_id: uuid.UUID | None,
    enabled: bool | None,
    metadata: dict[str, Any] | None,
) -> None:
    if assistant_id is not None:
        where.add(f"c.assistant_id = {where.param(assistant_id)}")
    if thread_id is not None:
        where.add(f"c.thread_id = {where.param(thread_id)}")
    if enabled is not None:
        where.add(f"c.enabled = {where.param(enabled)}")
    if metadata:
        where.add(f"c.metadata @> {where.param(metadata)}::jsonb")
    _visible(where, access)


async def due(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Enabled crons whose tick is due, locked; crons another process is firing are
    skipped, not waited for."""
    return list(
        await conn.fetch(
            f"""SELECT {COLUMNS} FROM crons
                WHERE enabled AND next_run_date <= now()
                ORDER BY next_run_date LIMIT $1 FOR UPDATE SKIP LOCKED""",
            limit,
        )
    )


async def next_due(conn: Conn) -> datetime.datetime | None:
    value: datetime.datetime | None = await conn.fetchval(
        "SELECT min(next_run_date) FROM crons WHERE enabled"
    )
    return value


async def delete_for_assistant(conn: Conn, assistant_id: uuid.UUID) -> None:
    """Delete the assistant's crons (its delete takes them along)."""
    await conn.execute("DELETE FROM crons WHERE assistant_id = $1", assistant_id)
