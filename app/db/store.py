"""Store items (long-term memory): put, get, delete, search, list namespaces, sweep.

A namespace is stored as its labels joined with ``.`` (``prefix``); labels cannot contain
``.``, so ``prefix LIKE 'a.b.%'`` finds exactly the namespaces under ``("a", "b")``. Expired
items are invisible at once and deleted by a periodic sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.core.access import ALL, Access
from app.core.errors import InvalidInput
from app.db.access import Where
from app.db.types import Conn

COLUMNS = "prefix, key, value, created_at, updated_at"
LIVE = "(expires_at IS NULL OR expires_at > now())"
_OPS = {"$eq": "=", "$ne": "<>", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def join(namespace: Sequence[str]) -> str:
    return ".".join(namespace)


def _like_prefix(namespace: Sequence[str]) -> str:
    escaped = join(namespace).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + ".%"


async def put(
    conn: Conn,
    namespace: Sequence[str],
    key: str,
    value: dict[str, Any],
    ttl: float | None,
    access: Access = ALL,
) -> bool:
    """Insert or replace the item; False (nothing written) when an item of that key exists
    that ``access`` hides (its filters hold on item values)."""
    where = Where([join(namespace), key, value, ttl])
    access.apply(where, "store_items.value")
    written = await conn.fetchval(
        f"""INSERT INTO store_items (prefix, key, value, ttl_minutes, expires_at)
           VALUES ($1, $2, $3, $4::float8, now() + make_interval(secs => $4::float8 * 60))
           ON CONFLICT (prefix, key) DO UPDATE
             SET value = EXCLUDED.value, updated_at = now(),
                 ttl_minutes = EXCLUDED.ttl_minutes, expires_at = EXCLUDED.expires_at
             WHERE {where.sql()}
           RETURNING 1""",
        *where.params,
    )
    return written is not None


async def delete(conn: Conn, namespace: Sequence[str], key: str, access: Access = ALL) -> None:
    where = Where([join(namespace), key])
    access.apply(where, "value")
    await conn.execute(
        f"DELETE FROM store_items WHERE prefix = $1 AND key = $2 AND {where.sql()}", *where.params
    )


async def get(
    conn: Conn, namespace: Sequence[str], key: str, *, refresh_ttl: bool, access: Access = ALL
) -> asyncpg.Record | None:
    where = Where([join(namespace), key])
    where.add(f"prefix = $1 AND key = $2 AND {LIVE}")
    access.apply(where, "value")
    if refresh_ttl:
        return await conn.fetchrow(
            f"""UPDATE store_items
                   SET expires_at = now() + make_interval(secs => ttl_minutes * 60)
                 WHERE {where.sql()}
                 RETURNING {COLUMNS}""",
            *where.params,
        )
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM store_items WHERE {where.sql()}", *where.params
    )


def matching(
    namespace_prefix: Sequence[str], conditions: dict[str, Any] | None, access: Access
) -> Where:
    """The conditions of a search: live items under the namespace prefix whose value
    passes the filter and the caller's access (the plain search and the ranked one)."""
    where = Where()
    where.add(LIVE)
    access.apply(where, "value")
    if namespace_prefix:
        where.add(under(where, namespace_prefix))
    _filter(where, conditions)
    return where


def under(where: Where, namespace_prefix: Sequence[str], column: str = "prefix") -> str:
    """The condition that ``column`` is the namespace prefix or a namespace below it."""
    p = where.param(join(namespace_prefix))
    return f"({column} = {p} OR {column} LIKE {where.param(_like_prefix(namespace_prefix))})"


def _filter(where: Where, conditions: dict[str, Any] | None) -> None:
    """``{field: value}`` is JSON equality (containment); ``{field: {"$gt": 1, ...}}``
    compares, numerically for numbers and as text otherwise."""
    for field, wanted in (conditions or {}).items():
        if isinstance(wanted, dict) and wanted and all(k in _OPS for k in wanted):
            for op, operand in wanted.items():
                sql_op = _OPS[op]
                path = where.param(field)
                if isinstance(operand, bool) or operand is None:
                    where.add(f"(value -> {path}) {sql_op} {where.param(operand)}::jsonb")
                elif isinstance(operand, int | float):
                    where.add(
                        f"(jsonb_typeof(value -> {path}) = 'number' AND "
                        f"(value ->> {path})::float8 {sql_op} {where.param(float(operand))})"
                    )
                else:
                    where.add(f"(value ->> {path}) {sql_op} {where.param(str(operand))}")
        elif isinstance(wanted, dict) and any(str(k).startswith("$") for k in wanted):
            raise InvalidInput(f"Unsupported filter operator in {wanted!r}; use {list(_OPS)}")
        else:
            where.add(f"value @> {where.param({field: wanted})}::jsonb")


async def search(
    conn: Conn,
    namespace_prefix: Sequence[str],
    *,
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    refresh_ttl: bool,
    access: Access = ALL,
) -> list[asyncpg.Record]:
    """Items under a namespace prefix (newest first), optionally filtered on their value."""
    where = matching(namespace_prefix, filter, access)
    found = list(
        await conn.fetch(
            f"""SELECT {COLUMNS} FROM store_items WHERE {where.sql()}
                ORDER BY updated_at DESC, prefix, key
                LIMIT {where.param(limit)} OFFSET {where.param(offset)}""",
            *where.params,
        )
    )
    if refresh_ttl and found:
        await refresh(conn, [(r["prefix"], r["key"]) for r in found])
    return found


async def refresh(conn: Conn, items: Sequence[tuple[str, str]]) -> None:
    """Renew the expiry of these (prefix, key) items (those that have a TTL)."""
    await conn.execute(
        """UPDATE store_items SET expires_at = now() + make_interval(secs => ttl_minutes * 60)
           WHERE ttl_minutes IS NOT NULL AND (prefix, key) IN
             (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [p for p, _ in items],
        [k for _, k in items],
    )


async def namespaces(
    conn: Conn,
    *,
    prefix: Sequence[str] | None,
    suffix: Sequence[str] | None,
    max_depth: int | None,
    limit: int,
    offset: int,
    access: Access = ALL,
) -> list[list[str]]:
    """Distinct namespaces (cut to ``max_depth``), filtered by prefix/suffix labels where
    ``*`` matches any one label.

    The namespaces come from a skip scan of the primary key (one index probe per distinct
    namespace holding a live item the caller may see), so the cost follows the number of
    namespaces, not of items."""
    live = Where()
    live.add(LIVE)
    access.apply(live, "value")
    where = Where(params=live.params)
    labels = "(string_to_array(prefix, '.'))"
    for i, label in enumerate(prefix or (), start=1):
        if label != "*":
            where.add(f"{labels}[{i}] = {where.param(label)}")
    if prefix:
        where.add(f"cardinality({labels}) >= {len(prefix)}")
    for i, label in enumerate(reversed(suffix or ()), start=0):
        if label != "*":
            where.add(f"{labels}[cardinality({labels}) - {i}] = {where.param(label)}")
    if suffix:
        where.add(f"cardinality({labels}) >= {len(suffix)}")
    shown = f"{labels}[1:{where.param(max_depth)}]" if max_depth else labels
    rows = await conn.fetch(
        f"""WITH RECURSIVE spaces(prefix) AS (
              (SELECT prefix FROM store_items WHERE {live.sql()} ORDER BY prefix LIMIT 1)
              UNION ALL
              SELECT (SELECT prefix FROM store_items
                       WHERE prefix > spaces.prefix AND {live.sql()} ORDER BY prefix LIMIT 1)
                FROM spaces WHERE spaces.prefix IS NOT NULL)
            SELECT DISTINCT {shown} AS ns FROM spaces
             WHERE prefix IS NOT NULL AND {where.sql()}
             ORDER BY 1 LIMIT {where.param(limit)} OFFSET {where.param(offset)}""",
        *where.params,
    )
    return [list(r["ns"]) for r in rows]


async def sweep(conn: Conn) -> int:
    result = await conn.execute("DELETE FROM store_items WHERE expires_at <= now()")
    return int(result.split()[-1])
