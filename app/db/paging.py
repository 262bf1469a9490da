"""One page of a filtered table plus the number of matches, in one query."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.db.access import Where


async def page(
    conn: Any,
    table: str,
    key: str,
    where: Where,
    *,
    columns: str,
    sort_by: str,
    sort_order: str,
    limit: int,
    offset: int,
) -> tuple[list[asyncpg.Record], int]:
    """Rows ``offset..offset+limit`` of ``table`` matching ``where``, and the exact total.

    Ordered by ``sort_by`` then the primary ``key`` (a stable order across pages). The
    caller has checked ``sort_by`` and ``columns`` against the resource's allowed fields.

    The total comes from a window count on the same scan; only an empty page past the end
    needs a second (count) query.
    """
    order = "ASC" if sort_order == "asc" else "DESC"
    order_by = f"{sort_by} {order}, {key} {order}"
    n_filter_params = len(where.params)
    lim, off = where.param(limit), where.param(offset)
    rows = await conn.fetch(
        f"""SELECT {columns}, count(*) OVER () AS _total FROM {table} WHERE {where.sql()}
            ORDER BY {order_by} LIMIT {lim} OFFSET {off}""",
        *where.params,
    )
    if rows:
        return list(rows), int(rows[0]["_total"])
    total = await conn.fetchval(
        f"SELECT count(*) FROM {table} WHERE {where.sql()}", *where.params[:n_filter_params]
    )
    return [], int(total)


async def count(conn: Any, table: str, where: Where) -> int:
    return int(
        await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where.sql()}", *where.params)
    )
