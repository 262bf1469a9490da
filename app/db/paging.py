"""One page of a filtered table, and the pagination total the reference server reports."""

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
    walk_index: bool = False,
) -> tuple[list[asyncpg.Record], int]:
    """Rows ``offset..offset+limit`` of ``table`` matching ``where``, and a total for
    ``X-Pagination-Total``.

    Ordered by ``sort_by`` then the primary ``key`` (a stable order across pages). The
    caller has checked ``sort_by`` and ``columns`` against the resource's allowed fields.

    One row past the page is read to learn whether more exist, so a page costs what its
    rows cost, never the whole match (API.md §8). The total is then the reference server's:
    exact on the last page (``offset + len``), and ``offset + limit + 1`` (the least it can
    be) when more follow, which keeps ``X-Pagination-Next`` right. Only an empty page past
    the end counts the match, to report where it ends (that read costs what the offset
    already did). Exact totals are what the ``/count`` endpoints are for.

    ``walk_index``: read the sort's index in order, filtering as it goes, rather than scan
    the table and sort (the caller passes it for a filter the planner cannot estimate: a
    ``values`` containment, guessed to match almost nothing, so it chose a whole-table scan
    where a few hundred index entries find the page).
    """
    order = "ASC" if sort_order == "asc" else "DESC"
    order_by = f"{sort_by} {order}, {key} {order}"
    n_filter_params = len(where.params)
    lim, off = where.param(limit + 1), where.param(offset)
    query = f"""SELECT {columns} FROM {table} WHERE {where.sql()}
                ORDER BY {order_by} LIMIT {lim} OFFSET {off}"""
    if walk_index:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            rows = list(await conn.fetch(query, *where.params))
    else:
        rows = list(await conn.fetch(query, *where.params))
    if len(rows) > limit:
        return rows[:limit], offset + limit + 1
    if rows or offset == 0:
        return rows, offset + len(rows)
    total = await conn.fetchval(
        f"SELECT count(*) FROM {table} WHERE {where.sql()}", *where.params[:n_filter_params]
    )
    return [], int(total)


async def count(conn: Any, table: str, where: Where) -> int:
    return int(
        await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where.sql()}", *where.params)
    )
