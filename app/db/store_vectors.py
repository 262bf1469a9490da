"""The statements of semantic store search: an item's embeddings (``store_vectors``), the
search that ranks by them, and what they were made with (``store_index``).

Vectors are unit-length ``real[]``, so the similarity is their dot product; an item's score
is its best field's. The ranking is exact: every live item under the prefix that passes
the filters is scored (fine to some hundred thousand items; an HNSW index with pgvector is
the next step for more).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.core.access import ALL, Access
from app.db.store import COLUMNS, LIVE, join, matching
from app.db.types import Conn

SCORE = """(SELECT max((SELECT sum(a * b) FROM unnest(v.embedding, {q}::real[]) AS t(a, b)))
              FROM store_vectors v WHERE v.prefix = i.prefix AND v.key = i.key)"""
SCORE_PGVECTOR = """(SELECT max(-(v.embedding::vector <#> {q}::real[]::vector))
              FROM store_vectors v WHERE v.prefix = i.prefix AND v.key = i.key)"""
"""The same score with pgvector's inner product (``<#>`` is its negation), computed in C."""


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
    (cosine similarity; computed by pgvector when it is there)."""
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
