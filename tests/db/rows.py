"""Rows the database tests start from."""

from __future__ import annotations

import uuid

import asyncpg

from app.core.ids import uuid7

TOKEN = uuid.UUID("00000000-0000-4000-8000-000000000001")
"""The lease token of the runs ``insert_run`` makes (unless told otherwise)."""


async def insert_run(
    conn: asyncpg.Connection,
    *,
    status: str = "running",
    epoch: int = 1,
    token: uuid.UUID | None = TOKEN,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A new thread with one run in ``status`` under lease (``epoch``, ``token``):
    (thread id, run id)."""
    tid, rid = uuid7(), uuid7()
    await conn.execute("INSERT INTO threads (thread_id) VALUES ($1)", tid)
    await conn.execute(
        "INSERT INTO runs (run_id, thread_id, assistant_id, status, lease_epoch, lease_token) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        rid,
        tid,
        uuid.uuid4(),
        status,
        epoch,
        token,
    )
    return tid, rid
