"""Search and count of a resource (threads, assistants, crons): one page and its total.

Each service checks ``sort_by`` and ``select`` against its resource's allowed fields and
builds the WHERE clause (filters and access); the page itself is the same for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import asyncpg

from app.db import paging
from app.db.access import Where


class Page(TypedDict):
    """The paging part of a search, as the API passes it to every ``search``."""

    limit: int
    offset: int
    sort_by: str | None
    sort_order: str | None
    select: list[str] | None


@dataclass(frozen=True)
class Table:
    """A resource as search and count read it: the FROM clause, its primary key (the
    tie-break of the order) and how a row is shown."""

    source: str
    key: str
    to_wire: Callable[[asyncpg.Record], Any]
    """The record's wire Struct (``app.core.wire``)."""

    async def search(
        self,
        pool: asyncpg.Pool[Any],
        where: Where,
        page: Page,
        *,
        columns: str,
        sort_by: str,
        convert: Callable[[asyncpg.Record], Any] | None = None,
        walk_index: bool = False,
    ) -> tuple[list[Any], int]:
        """``page`` of the rows matching ``where`` (newest first unless told), and the total."""
        async with pool.acquire() as conn:
            found, total = await paging.page(
                conn,
                self.source,
                self.key,
                where,
                columns=columns,
                sort_by=sort_by,
                sort_order=page["sort_order"] or "desc",
                limit=page["limit"],
                offset=page["offset"],
                walk_index=walk_index,
            )
        convert = convert or self.to_wire
        return [convert(row) for row in found], total

    async def count(self, pool: asyncpg.Pool[Any], where: Where) -> int:
        async with pool.acquire() as conn:
            return await paging.count(conn, self.source, where)
