"""Semantic store search latency (issue 17): p50/p99 of ``search_items(query=...)`` over
10k and 100k items, and of a put that embeds its text.

    uv run python bench/store_search.py [10000 100000]             # the machine's PostgreSQL
    uv run python bench/store_search.py --pgvector [10000 100000]  # a private cluster with pgvector

The server serves tests/projects/memory (its deterministic 64-dimension embedding: no model,
so the figures are the server's and PostgreSQL's, not a provider's). Items are seeded with
SQL shaped like the server's own rows (vectors made by the same function, unit length).
With pgvector the HNSW index is built after the seeding (its build time is printed), and
the recall of the global searches is printed: the share of the top 10 that score at least
the exact ranking's 10th (ties count as found).
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from pathlib import Path

import asyncpg
from langgraph_sdk import get_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.db import store_vectors as vector_rows
from bench.common import own_server, report
from tests.projects.memory.embed import embed

CONFIG = str(
    Path(__file__).resolve().parents[1] / "tests" / "projects" / "memory" / "langgraph.json"
)
WORDS = [
    "cat",
    "dog",
    "tea",
    "coffee",
    "rain",
    "sun",
    "book",
    "music",
    "train",
    "garden",
    "river",
    "city",
    "night",
    "code",
    "bread",
]
QUERIES = 200
"""Searches per figure; 20 where every search scores 100k items in SQL (seconds each)."""


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


async def seed(database: str, n: int) -> None:
    rng = random.Random(n)
    conn = await asyncpg.connect(database)
    try:
        pgvector = await vector_rows.has_pgvector(conn)
        if pgvector:
            await vector_rows.drop_hnsw(conn)  # built once at the end, as a reindex does
        await conn.execute("TRUNCATE store_items CASCADE")
        batch = 5000
        for start in range(0, n, batch):
            texts = [" ".join(rng.choices(WORDS, k=8)) for _ in range(min(batch, n - start))]
            keys = [f"k{start + i}" for i in range(len(texts))]
            prefixes = [f"bench.u{(start + i) % 50}" for i in range(len(texts))]
            await conn.copy_records_to_table(
                "store_items",
                records=[
                    (p, k, f'{{"text": "{t}", "kind": "{"note" if j % 10 == 0 else "log"}"}}')
                    for j, (p, k, t) in enumerate(zip(prefixes, keys, texts, strict=True))
                ],
                columns=["prefix", "key", "value"],
            )
            vectors = [_unit(v) for v in embed(texts)]
            await conn.copy_records_to_table(
                "store_vectors",
                records=[
                    (p, k, "text", "seeded", v)
                    for p, k, v in zip(prefixes, keys, vectors, strict=True)
                ],
                columns=["prefix", "key", "field", "text_hash", "embedding"],
            )
        if pgvector:
            t = time.perf_counter()
            await vector_rows.ensure_hnsw(conn, 64)
            print(f"HNSW index built over {n} vectors in {time.perf_counter() - t:.1f} s")
        await conn.execute("ANALYZE store_items; ANALYZE store_vectors")
    finally:
        await conn.close()


async def recall(database: str, query: str, found: list[dict[str, object]]) -> float:
    """The share of ``found`` scoring at least the exact ranking's last (ties are found)."""
    conn = await asyncpg.connect(database)
    try:
        vector = _unit(embed([query])[0])
        exact = await vector_rows.exact(conn, ["bench"], vector, None, len(found), 0, pgvector=True)
    finally:
        await conn.close()
    floor = exact[-1]["score"] - 1e-6
    return sum(1 for i in found if float(str(i["score"])) >= floor) / len(found)


async def measure(url: str, database: str, n: int, pgvector: bool = False) -> None:
    await seed(database, n)
    client = get_client(url=url)
    rng = random.Random(7)
    try:
        for label, prefix, where in (
            (f"search {n:>6} items, all", ["bench"], None),
            (f"search {n:>6} items, all, 1/10 by filter", ["bench"], {"kind": "note"}),
            (f"search {n:>6} items, one user", ["bench", "u3"], None),
        ):
            samples, recalls = [], []
            queries = QUERIES if pgvector or n < 100_000 or prefix != ["bench"] else 20
            for i in range(queries):
                query = " ".join(rng.choices(WORDS, k=3))
                t = time.perf_counter()
                found = await client.store.search_items(prefix, query=query, filter=where, limit=10)
                samples.append(time.perf_counter() - t)
                if pgvector and where is None and prefix == ["bench"] and i % 10 == 0:
                    recalls.append(await recall(database, query, list(found["items"])))
            report(label, samples)
            if recalls:
                print(f"  recall of the top 10: {sum(recalls) / len(recalls):.3f}", flush=True)
        samples = []
        for i in range(QUERIES):
            t = time.perf_counter()
            await client.store.put_item(
                ["bench", "put"], f"p{i}", {"text": " ".join(rng.choices(WORDS, k=8))}
            )
            samples.append(time.perf_counter() - t)
        report(f"put with embedding ({n} items)", samples)
    finally:
        await client.http.client.aclose()


def main() -> None:
    pgvector = "--pgvector" in sys.argv
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [10_000, 100_000]
    if not pgvector:
        with own_server(config=CONFIG) as server:
            assert server.database is not None
            for n in sizes:
                asyncio.run(measure(server.url, server.database, n))
        return
    from tests.cluster import private_cluster
    from tests.server import running_server

    with private_cluster() as cluster:
        url = cluster.create_database("bench")
        with running_server(url, config=CONFIG, migrate=True) as server:
            for n in sizes:
                asyncio.run(measure(server, url, n, pgvector=True))


if __name__ == "__main__":
    main()
