"""The asyncpg pool: JSON(B) codecs via msgspec, one place to open it."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.core import jsonable
from app.db.urls import plain_url


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            encoder=jsonable.dumps_str,
            decoder=jsonable.loads,
            schema="pg_catalog",
            format="text",
        )


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool[Any]:
    pool = await asyncpg.create_pool(
        plain_url(url),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
    )
    assert pool is not None
    return pool
