"""Semantic store search (issue 17): ``store.index`` from langgraph.json, over HTTP and for
``BaseStore`` inside graphs (async and sync nodes), with a deterministic embedding function
shipped in the test project (tests/projects/memory: no model download).

Every test with a database runs twice (``backend``): on the machine's PostgreSQL, which has
no pgvector (exact ranking in SQL), and on one private cluster for the module from the
embedded binaries, which carry pgvector (HNSW index, scored by pgvector).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from app.db import migrate
from app.db.urls import plain_url
from tests.cluster import Cluster, private_cluster
from tests.pg import run_sync
from tests.server import ROOT, command, running_server

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "memory"
CONFIG = str(PROJECT / "langgraph.json")

ITEMS = {
    "cats": "my cat sleeps on the warm window sill all day",
    "dogs": "the dog barks at the mail carrier every morning",
    "tea": "green tea with honey in the afternoon",
}
_names = itertools.count()


@pytest.fixture(scope="module")
def pgvector_cluster() -> Iterator[Cluster]:
    """The module's private cluster, with a migrated template (``mem_template``)."""
    with private_cluster() as cluster:
        migrate.upgrade(cluster.create_database("mem_template"))
        yield cluster


def _clone(cluster: Cluster) -> str:
    name = f"mem_{next(_names)}"
    cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE mem_template')
    return cluster.url(name)


@pytest.fixture(scope="module", params=["sql", "pgvector"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def store_database_url(request: pytest.FixtureRequest, backend: str) -> str:
    """The module's database on the backend's server."""
    if backend == "sql":
        return str(request.getfixturevalue("module_database_url"))
    return _clone(request.getfixturevalue("pgvector_cluster"))


@pytest.fixture
def fresh_database_url(request: pytest.FixtureRequest, backend: str) -> str:
    """A migrated database of this test's own on the backend's server."""
    if backend == "sql":
        return str(request.getfixturevalue("database_url"))
    return _clone(request.getfixturevalue("pgvector_cluster"))


@pytest.fixture(scope="module")
def server_url(store_database_url: str) -> Iterator[str]:
    with running_server(store_database_url, config=CONFIG) as url:
        yield url


def _log(server: str) -> str:
    port = server.rsplit(":", 1)[1]
    return (ROOT / ".pytest_cache" / "servers" / f"server-{port}.log").read_text()


def test_the_start_log_says_how_searches_are_scored(server_url: str, backend: str) -> None:
    log = _log(server_url)
    if backend == "pgvector":
        assert "HNSW index store_vectors_hnsw_vector_64_ip" in log, log[-2000:]
        assert "scored by pgvector" in log
    else:
        assert "exact ranking, scored in SQL (no pgvector in this database)" in log, log[-2000:]


async def _seed(client: LangGraphClient, ns: list[str]) -> None:
    for key, text in ITEMS.items():
        await client.store.put_item(ns, key, {"text": text, "kind": "note"})


async def test_query_ranks_by_similarity_with_scores(client: LangGraphClient) -> None:
    ns = ["notes", "a"]
    await _seed(client, ns)
    found = (await client.store.search_items(["notes"], query="my cat sleeps"))["items"]
    assert found[0]["key"] == "cats"
    scores = [i["score"] for i in found]
    assert scores == sorted(scores, reverse=True)
    assert 0 < scores[0] <= 1
    # Combined with a filter, a limit and an offset.
    await client.store.put_item(ns, "cats2", {"text": "a cat and a dog", "kind": "other"})
    filtered = await client.store.search_items(
        ["notes"], query="cat", filter={"kind": "note"}, limit=1
    )
    assert [i["key"] for i in filtered["items"]] == ["cats"]
    ranked = (await client.store.search_items(["notes"], query="cat", limit=10))["items"]
    second = await client.store.search_items(["notes"], query="cat", limit=1, offset=1)
    assert [i["key"] for i in second["items"]] == [ranked[1]["key"]]
    # Without a query: by filter, unscored.
    plain = await client.store.search_items(["notes"], filter={"kind": "note"})
    assert {i["key"] for i in plain["items"]} == set(ITEMS)
    assert {i["score"] for i in plain["items"]} == {None}


async def test_index_false_is_found_by_filter_not_by_query(client: LangGraphClient) -> None:
    ns = ["hidden"]
    await client.store.put_item(ns, "secret", {"text": "my cat sleeps"}, index=False)
    await client.store.put_item(ns, "shown", {"text": "my cat sleeps"})
    by_query = await client.store.search_items(ns, query="cat sleeps")
    assert [i["key"] for i in by_query["items"]] == ["shown"]
    by_filter = await client.store.search_items(ns, filter={"text": "my cat sleeps"})
    assert {i["key"] for i in by_filter["items"]} == {"secret", "shown"}


async def test_items_are_re_embedded_only_when_their_text_changes(
    client: LangGraphClient, store_database_url: str
) -> None:
    ns = ["changes"]
    await client.store.put_item(ns, "k", {"text": "cats", "n": 1})

    async def row() -> Any:
        conn = await asyncpg.connect(plain_url(store_database_url))
        try:
            return await conn.fetchrow(
                "SELECT text_hash, embedding FROM store_vectors WHERE prefix = 'changes'"
            )
        finally:
            await conn.close()

    first = await row()
    await client.store.put_item(ns, "k", {"text": "cats", "n": 2})  # the text is the same
    assert await row() == first
    await client.store.put_item(ns, "k", {"text": "dogs", "n": 3})
    changed = await row()
    assert changed["text_hash"] != first["text_hash"]
    await client.store.delete_item(ns, "k")
    assert await row() is None  # gone with the item


@pytest.mark.parametrize("graph", ["memory", "memory_sync"])
async def test_graphs_search_the_store_by_meaning(client: LangGraphClient, graph: str) -> None:
    await _seed(client, ["memories"])
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], graph, input={"query": "a cup of green tea"})
    assert out["found"][0]["key"] == "tea"
    assert out["found"][0]["score"] > out["found"][-1]["score"]


async def test_a_graph_remembers_then_recalls_through_a_run(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    fact = "the office wifi password is in the blue binder"
    out = await client.runs.wait(
        thread["thread_id"],
        "memory",
        input={"remember": fact, "query": "where is the wifi password"},
    )
    assert out["found"][0]["key"] == fact[:20]
    item = await client.store.get_item(["memories"], fact[:20])
    assert item["value"] == {"text": fact}


async def test_langmem_tools_store_and_recall_a_fact_through_runs(
    client: LangGraphClient,
) -> None:
    """LangMem's manage/search memory tools in a real graph: one run stores a fact, a later
    run (another thread) recalls it by meaning."""
    fact = "The user's favourite tea is jasmine green tea"
    first = await client.threads.create()
    config = {"configurable": {"langgraph_user_id": "u1"}}
    await client.runs.wait(
        first["thread_id"], "langmem", input={"remember": fact, "query": "tea"}, config=config
    )
    await client.runs.wait(
        first["thread_id"],
        "langmem",
        input={"remember": "The user walks the dog at seven", "query": "dog"},
        config=config,
    )
    second = await client.threads.create()
    out = await client.runs.wait(
        second["thread_id"],
        "langmem",
        input={"query": "which tea does the user like"},
        config=config,
    )
    recalled = out["found"][0]["text"]
    assert recalled.index("jasmine") < recalled.index("dog")  # the tea fact ranks first
    items = await client.store.search_items(["langmem", "u1"])
    assert len(items["items"]) == 2


def _serve(tmp_path: Path, index: dict[str, Any], database_url: str) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "dependencies": [str(PROJECT)],
                "graphs": {"memory": f"{PROJECT}/graphs.py:memory"},
                "store": {"index": index},
            }
        )
    )
    env = {**os.environ, "DATABASE_URL": database_url}
    return config, env


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ({"embed": f"{PROJECT}/embed.py:embed", "dims": 0}, "store.index.dims must be"),
        ({"embed": f"{PROJECT}/nope.py:embed", "dims": 8}, "file not found"),
        (
            {"embed": f"{PROJECT}/embed.py:embed", "dims": 8, "distance": "l2"},
            "store.index.distance",
        ),
        ({"embed": "nonesuch:model-x", "dims": 8}, "store.index.embed 'nonesuch:model-x'"),
    ],
)
def test_bad_store_index_stops_serve(
    tmp_path: Path, database_url: str, index: dict[str, Any], message: str
) -> None:
    config, env = _serve(tmp_path, index, database_url)
    res = command("serve", "--config", str(config), "--port", "1", "--no-migrate", env=env)
    assert res.returncode != 0, res.output[-2000:]
    assert message in res.output, res.output[-2000:]


def test_a_changed_index_needs_a_reindex(
    tmp_path: Path, fresh_database_url: str, backend: str
) -> None:
    """Items embedded with 64 dimensions; serving with another model (32) stops and names
    the command; ``turnstile store reindex`` embeds them again (and, with pgvector, builds
    the HNSW index for 32 dimensions in place of the 64 one), and then it serves."""
    database_url = fresh_database_url
    old, env = _serve(
        tmp_path / "old", {"embed": f"{PROJECT}/embed.py:embed", "dims": 64}, database_url
    )
    with running_server(database_url, config=str(old)) as url, httpx.Client(base_url=url) as http:
        for key, text in ITEMS.items():
            r = http.put(
                "/store/items", json={"namespace": ["n"], "key": key, "value": {"text": text}}
            )
            assert r.status_code == 204
    new, env = _serve(
        tmp_path / "new", {"embed": f"{PROJECT}/embed.py:embed32", "dims": 32}, database_url
    )
    res = command("serve", "--config", str(new), "--port", "1", "--no-migrate", env=env)
    assert res.returncode != 0
    assert "store.index changed" in res.output, res.output[-2000:]
    assert "turnstile store reindex" in res.output
    res = command("store", "reindex", "--config", str(new), env=env)
    assert res.returncode == 0, res.output[-2000:]
    assert "store reindex: 3 items embedded (32 dimensions)" in res.output
    with running_server(database_url, config=str(new)) as url, httpx.Client(base_url=url) as http:
        found = http.post("/store/items/search", json={"namespace_prefix": ["n"], "query": "cat"})
        assert found.json()["items"][0]["key"] == "cats"
    if backend == "pgvector":
        assert "HNSW index store_vectors_hnsw_vector_32_ip" in _log(url)
        assert run_sync(_hnsw_indexes(database_url)) == ["store_vectors_hnsw_vector_32_ip"]


async def test_scores_are_the_cosine_similarity(client: LangGraphClient) -> None:
    """Whichever scores (SQL or pgvector, through the HNSW index or not): the score of the
    best match is the cosine similarity of the query and the item's text."""
    from tests.projects.memory.embed import embed

    for key, text in ITEMS.items():
        await client.store.put_item(["cosine"], key, {"text": text})
    found = (await client.store.search_items(["cosine"], query="my cat sleeps"))["items"]
    assert found[0]["key"] == "cats"
    q, best = embed(["my cat sleeps", ITEMS["cats"]])
    norm = (sum(x * x for x in q) * sum(x * x for x in best)) ** 0.5
    assert abs(found[0]["score"] - sum(a * b for a, b in zip(q, best, strict=True)) / norm) < 1e-5


async def _hnsw_indexes(database_url: str) -> list[str]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'store_vectors_hnsw%'"
        )
        return [r["indexname"] for r in rows]
    finally:
        await conn.close()
