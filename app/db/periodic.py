"""Periodic jobs shared by every process: each tick runs in exactly one of them."""

from __future__ import annotations

from app.db.types import Conn


async def take_tick(conn: Conn, name: str, every_seconds: float, owner: str) -> bool:
    """True if this caller won the job's current tick (it was due, and the caller moved it
    forward). Concurrent callers serialise on the row; the losers see it no longer due."""
    won = await conn.fetchval(
        """INSERT INTO periodic_jobs (name, next_at, last_owner)
           VALUES ($1, now() + make_interval(secs => $2), $3)
           ON CONFLICT (name) DO UPDATE
             SET next_at = now() + make_interval(secs => $2), last_owner = $3
             WHERE periodic_jobs.next_at <= now()
           RETURNING true""",
        name,
        every_seconds,
        owner,
    )
    return bool(won)
