"""Checkpoint rows touched from server transactions (the checkpointer itself lives in
app/checkpoint/). Deleting a thread removes its checkpoints in the same transaction."""

from __future__ import annotations

from app.db.types import Conn

CHECKPOINT_TABLES = ("checkpoint_writes", "checkpoint_blobs", "checkpoints")


async def delete_thread(conn: Conn, thread_id: str) -> None:
    for table in CHECKPOINT_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE thread_id = $1", thread_id)


async def exists(conn: Conn, thread_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = $1)", thread_id
        )
    )
