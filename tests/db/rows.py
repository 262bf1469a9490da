"""Rows the database tests start from."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.access import ALL, Access
from app.core.ids import uuid7
from app.db import run_create

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


async def insert_assistant(conn: asyncpg.Connection) -> tuple[uuid.UUID, Any]:
    """An assistant of graph ``g``: (its id, its updated_at), as a create checks them."""
    aid = uuid.uuid4()
    updated = await conn.fetchval(
        "INSERT INTO assistants (assistant_id, graph_id, name, version) "
        "VALUES ($1, 'g', 'a', 1) RETURNING updated_at",
        aid,
    )
    return aid, updated


async def create_run(
    conn: asyncpg.Connection,
    tid: uuid.UUID,
    assistant: tuple[uuid.UUID, Any],
    *,
    queue: bool,
    access: Access = ALL,
) -> asyncpg.Record:
    """The create's statement (``app.db.run_create``): ``enqueue`` or ``reject``."""
    return await run_create.create_on_thread(
        conn,
        run_id=uuid7(),
        thread_id=tid,
        access=access,
        assistant_id=assistant[0],
        assistant_updated_at=assistant[1],
        graph_ids=["g"],
        graph_id="g",
        strategy="enqueue" if queue else "reject",
        queue=queue,
        temporary=False,
        metadata_before={},
        metadata_after={},
        kwargs={},
        delay_seconds=0.0,
        ready_payload="test",
    )
