"""The statements of semantic store search: an item's embeddings (``store_vectors``), the
search that ranks by them, pgvector's HNSW index over them, and what they were made with
(``store_index``).

Vectors are unit-length ``real[]`` (a column that exists with or without pgvector), so the
similarity is their dot product; an item's score is its best field's.

With pgvector, an HNSW index on the expression ``(embedding::vector(<dims>))`` with the
inner-product operator class (``halfvec`` from 2,001 to 4,000 dimensions, pgvector's limits)
is created at start for the configured ``store.index.dims`` (``ensure_hnsw``), and a search
orders by that same expression so the planner can walk the index instead of scoring every
vector; where a namespace prefix or filter is selective the planner scores those rows
exactly instead. Filters are applied during the walk with pgvector's iterative scans
(``hnsw.iterative_scan``, pgvector >= 0.8), and a walk that ends with fewer items than
asked for gives way to the exact ranking, so a filtered search returns as many items as
match. Without pgvector, or past 4,000 dimensions, every matching item is scored: exact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.core.access import ALL, Access
from app.db.store import COLUMNS, LIVE, join, matching, under
from app.db.types import Conn

SCORE = """(SELECT max((SELECT sum(a * b) FROM unnest(v.embedding, {q}::real[]) AS t(a, b)))
              FROM store_vectors v WHERE v.prefix = i.prefix AND v.key = i.key)"""
SCORE_PGVECTOR = """(SELECT max(-(v.embedding::vector <#> {q}::real[]::vector))
              FROM store_vectors v WHERE v.prefix = i.prefix AND v.key = i.key)"""
"""The same score with pgvector's inner product (``<#>`` is its negation), computed in C."""

HNSW_TYPES = ((2000, "vector"), (4000, "halfvec"))
"""The widest embedding pgvector's HNSW indexes take, by the type indexed."""
HNSW_PREFIX = "store_vectors_hnsw_"
HNSW_FROM = 10_000
"""Fewer vectors than this are all scored (exact, some milliseconds), more walk the index."""
MAX_CANDIDATES = 100_000
"""Past this many nearest vectors without enough distinct items, the exact ranking answers."""


def hnsw_type(dims: int) -> str | None:
    """The pgvector type an HNSW index on ``dims``-wide embeddings uses (None: too wide)."""
    return next((kind for most, kind in HNSW_TYPES if dims <= most), None)


def hnsw_name(dims: int) -> str | None:
    """The index for ``dims`` (named by its size and distance: inner product)."""
    kind = hnsw_type(dims)
    return None if kind is None else f"{HNSW_PREFIX}{kind}_{dims}_ip"


async def has_pgvector(conn: Conn) -> bool:
    """Whether the pgvector extension is created in this database (migration 0012)."""
    return bool(
        await conn.fetchval("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'vector')")
    )


async def hashes(conn: Conn, namespace: Sequence[str], key: str) -> dict[str, str]:
    """The text hash of each field of the item that has an embedding."""
    rows = await conn.fetch(
        "SELECT field, text_hash FROM store_vectors WHERE prefix = $1 AND key = $2",
        join(namespace),
        key,
    )
    return {r["field"]: r["text_hash"] for r in rows}


async def replace(
    conn: Conn,
    namespace: Sequence[str],
    key: str,
    keep: Sequence[str],
    changed: Sequence[tuple[str, str, list[float]]],
) -> None:
    """After a put: the item's embeddings are those of the ``keep`` fields, ``changed``
    ones (field, text hash, vector) written anew."""
    prefix = join(namespace)
    await conn.execute(
        "DELETE FROM store_vectors WHERE prefix = $1 AND key = $2 AND NOT field = ANY($3::text[])",
        prefix,
        key,
        list(keep),
    )
    if changed:
        await conn.executemany(
            """INSERT INTO store_vectors (prefix, key, field, text_hash, embedding)
               VALUES ($1, $2, $3, $4, $5::real[])
               ON CONFLICT (prefix, key, field) DO UPDATE
                 SET text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding""",
            [(prefix, key, field, digest, vector) for field, digest, vector in changed],
        )


async def search(
    conn: Conn,
    namespace_prefix: Sequence[str],
    query: list[float],
    *,
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    access: Access = ALL,
    pgvector: bool = False,
) -> list[asyncpg.Record]:
    """Items under the prefix that have embeddings, best match first, with their ``score``
    (cosine similarity). With ``pgvector`` (the extension is there) through the HNSW index
    for ``len(query)`` dimensions when ``ensure_hnsw`` built it, else exactly."""
    kind = hnsw_type(len(query)) if pgvector else None
    if kind is not None and limit > 0:
        found = await _nearest(conn, kind, namespace_prefix, query, filter, limit, offset, access)
        if found is not None:
            return found
    return await exact(
        conn, namespace_prefix, query, filter, limit, offset, access, pgvector=pgvector
    )


async def exact(
    conn: Conn,
    namespace_prefix: Sequence[str],
    query: list[float],
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    access: Access = ALL,
    *,
    pgvector: bool = False,
) -> list[asyncpg.Record]:
    """The exact ranking: every live item under the prefix that passes the filters is scored
    (by pgvector's operator when it is there, else in SQL: the same scores)."""
    where = matching(namespace_prefix, filter, access)
    score = (SCORE_PGVECTOR if pgvector else SCORE).format(q=where.param(query))
    columns = ", ".join(f"i.{c.strip()}" for c in COLUMNS.split(","))
    return list(
        await conn.fetch(
            f"""SELECT * FROM (
                  SELECT {columns}, {score} AS score FROM store_items i WHERE {where.sql()}
                ) scored WHERE score IS NOT NULL
                ORDER BY score DESC, prefix, key
                LIMIT {where.param(limit)} OFFSET {where.param(offset)}""",
            *where.params,
        )
    )


async def _nearest(
    conn: Conn,
    kind: str,
    namespace_prefix: Sequence[str],
    query: list[float],
    filter: dict[str, Any] | None,
    limit: int,
    offset: int,
    access: Access,
) -> list[asyncpg.Record] | None:
    """The page from the ``k`` nearest vectors of matching items (an item may have several,
    one per field), ``k`` grown until they hold ``limit + offset`` distinct items. None
    when the index is missing, or when a walk of it ends short (fewer matches than that, or
    pgvector's ``hnsw.max_scan_tuples`` reached): the exact ranking then answers."""
    wanted = limit + offset
    k = 2 * wanted
    async with conn.transaction():
        walk = await _plan(conn, hnsw_name(len(query)), k)
        if walk is None:
            return None
        while True:
            found = await _candidates(conn, kind, namespace_prefix, query, filter, access, k)
            if len(found) >= wanted:
                return found[offset:wanted]
            if not found or found[0]["candidates"] < k or k >= MAX_CANDIDATES:
                return None if walk else found[offset:wanted]
            k *= 4


async def _plan(conn: Conn, index: str | None, k: int) -> bool | None:
    """For the rest of the transaction: whether the index is walked (True), or every
    matching vector scored (False: below HNSW_FROM vectors, the planner's count, that is
    fast and exact); None when the index is not there (invalid, or not built).

    A walk checks the filters as it goes, and goes on until k rows passed (pgvector's
    iterative scans, from 0.8; relaxed order: rows are sorted again by their exact
    distance). Each search is planned with its own prefix and k: the index or, for a small
    namespace, the exact scores of its rows (a generic plan would pick one for all)."""
    row = await conn.fetchrow(
        """SELECT set_config('enable_indexscan',
                             CASE WHEN c.reltuples >= $2 THEN 'on' ELSE 'off' END, true) = 'on'
                    AS walk,
                  CASE WHEN string_to_array(e.extversion, '.')::int[] >= '{0,8}'
                       THEN set_config('hnsw.iterative_scan', 'relaxed_order', true) END,
                  set_config('hnsw.ef_search', $3, true),
                  set_config('plan_cache_mode', 'force_custom_plan', true)
             FROM pg_class c, pg_extension e
            WHERE c.oid = 'store_vectors'::regclass AND e.extname = 'vector'
              AND EXISTS (SELECT FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                           WHERE x.indrelid = c.oid AND i.relname = $1 AND x.indisvalid)""",
        index,
        HNSW_FROM,
        str(min(max(k, 40), 1000)),
    )
    return None if row is None else bool(row["walk"])


async def _candidates(
    conn: Conn,
    kind: str,
    namespace_prefix: Sequence[str],
    query: list[float],
    filter: dict[str, Any] | None,
    access: Access,
    k: int,
) -> list[asyncpg.Record]:
    """The distinct items of the ``k`` vectors nearest to ``query`` among live matching
    items, best first, each with ``candidates`` (how many vectors there were)."""
    where = matching(namespace_prefix, filter, access)  # on store_items, inside EXISTS
    q = where.param(query)
    scope = under(where, namespace_prefix, "v.prefix") if namespace_prefix else "TRUE"
    near = f"(v.embedding::{kind}({len(query)})) <#> ({q}::real[]::{kind}({len(query)}))"
    columns = ", ".join(f"i.{c.strip()}" for c in COLUMNS.split(","))
    return list(
        await conn.fetch(
            f"""WITH nearest AS MATERIALIZED (
                  SELECT v.prefix, v.key, v.embedding::vector <#> {q}::real[]::vector AS distance
                    FROM store_vectors v
                   WHERE {scope} AND EXISTS (
                           SELECT FROM store_items
                            WHERE store_items.prefix = v.prefix AND store_items.key = v.key
                              AND {where.sql()})
                   ORDER BY {near} LIMIT {where.param(k)}
                ), best AS (
                  SELECT prefix, key, min(distance) AS distance FROM nearest GROUP BY prefix, key
                )
                SELECT {columns}, -b.distance AS score,
                       (SELECT count(*) FROM nearest) AS candidates
                  FROM best b JOIN store_items i ON i.prefix = b.prefix AND i.key = b.key
                 ORDER BY b.distance, i.prefix, i.key""",
            *where.params,
        )
    )


async def ensure_hnsw(conn: Conn, dims: int) -> str | None:
    """The HNSW index for ``dims``-wide embeddings, created if missing (other sizes' indexes,
    and one left invalid, dropped): its name, or None past pgvector's limit or without the
    right to create it. Processes that
    start together take turns (a transaction-scoped advisory lock); the build blocks writes
    to ``store_vectors`` (not reads) for its time: half a minute for 100k vectors of 64
    dimensions on two busy cores."""
    name, kind = hnsw_name(dims), hnsw_type(dims)
    if await _hnsw_indexes(conn) == ([(name, True)] if name else []):
        return name  # as wanted: no DDL (it would wait for writers, and block them)
    try:
        await _build_hnsw(conn, name, kind, dims)
    except (asyncpg.InsufficientPrivilegeError, asyncpg.UndefinedObjectError):
        return None  # not the table's owner, or a pgvector before hnsw/halfvec: exact
    return name


async def _build_hnsw(conn: Conn, name: str | None, kind: str | None, dims: int) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('turnstile.store_hnsw'))")
        for index, valid in await _hnsw_indexes(conn):
            if index != name or not valid:
                await conn.execute(f'DROP INDEX "{index}"')
        if name is not None:
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            await conn.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON store_vectors '
                f"USING hnsw ((embedding::{kind}({dims})) {kind}_ip_ops)"
            )


async def drop_hnsw(conn: Conn) -> None:
    """Every HNSW index on ``store_vectors`` (before a reindex writes vectors of a new size)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('turnstile.store_hnsw'))")
        for index, _ in await _hnsw_indexes(conn):
            await conn.execute(f'DROP INDEX "{index}"')


async def discard_other_sizes(conn: Conn, dims: int) -> int:
    """Delete vectors that are not ``dims`` wide (after a reindex: those of expired items
    not swept yet); returns how many."""
    result = await conn.execute(
        "DELETE FROM store_vectors WHERE cardinality(embedding) <> $1", dims
    )
    return int(result.split()[-1])


async def _hnsw_indexes(conn: Conn) -> list[tuple[str, bool]]:
    rows = await conn.fetch(
        """SELECT c.relname, x.indisvalid FROM pg_index x
             JOIN pg_class c ON c.oid = x.indexrelid
            WHERE x.indrelid = 'store_vectors'::regclass AND starts_with(c.relname, $1)""",
        HNSW_PREFIX,
    )
    return [(r["relname"], r["indisvalid"]) for r in rows]


async def signature(conn: Conn) -> dict[str, Any] | None:
    """What the stored vectors were made with (None before any index was configured)."""
    text = await conn.fetchval("SELECT signature::text FROM store_index WHERE id = 1")
    return None if text is None else dict(json.loads(text))


async def set_signature(conn: Conn, value: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO store_index (id, signature) VALUES (1, $1::text::jsonb)
           ON CONFLICT (id) DO UPDATE SET signature = EXCLUDED.signature, updated_at = now()""",
        json.dumps(value),
    )


async def count(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM store_vectors"))


async def items_after(
    conn: Conn, after: tuple[str, str] | None, limit: int
) -> list[asyncpg.Record]:
    """Live items in key order after ``after`` (prefix, key): the reindex's pages."""
    if after is None:
        return list(
            await conn.fetch(
                f"SELECT prefix, key, value FROM store_items WHERE {LIVE} "
                "ORDER BY prefix, key LIMIT $1",
                limit,
            )
        )
    return list(
        await conn.fetch(
            f"SELECT prefix, key, value FROM store_items WHERE {LIVE} AND (prefix, key) > ($1, $2) "
            "ORDER BY prefix, key LIMIT $3",
            after[0],
            after[1],
            limit,
        )
    )
