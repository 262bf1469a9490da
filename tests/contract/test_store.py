"""The store through the official SDK (API.md §2.5, §9), and from graphs at run time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


async def test_put_get_delete(client: LangGraphClient, server_url: str) -> None:
    await client.store.put_item(["users", "u1"], "prefs", {"theme": "dark"})
    item = await client.store.get_item(["users", "u1"], "prefs")
    assert item["namespace"] == ["users", "u1"]
    assert item["key"] == "prefs"
    assert item["value"] == {"theme": "dark"}
    assert item["created_at"]
    assert item["updated_at"]
    await client.store.put_item(["users", "u1"], "prefs", {"theme": "light"})
    again = await client.store.get_item(["users", "u1"], "prefs")
    assert again["value"] == {"theme": "light"}
    assert again["created_at"] == item["created_at"]
    await client.store.delete_item(["users", "u1"], "prefs")
    assert await client.store.get_item(["users", "u1"], "prefs") is None
    async with httpx.AsyncClient(base_url=server_url) as http:
        no_key = await http.get("/store/items", params={"namespace": "users.u1"})
        bad_label = await http.put(
            "/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}}
        )
        not_object = await http.put(
            "/store/items", json={"namespace": ["a"], "key": "k", "value": [1]}
        )
    assert no_key.status_code == 400
    assert no_key.json() == {"error": "Key is required"}
    assert bad_label.status_code == 422
    assert not_object.status_code == 422


async def test_search_filters_and_namespaces(client: LangGraphClient) -> None:
    for i in range(5):
        await client.store.put_item(
            ["docs", "team", f"p{i % 2}"], f"d{i}", {"n": i, "kind": "a" if i < 3 else "b"}
        )
    await client.store.put_item(["other"], "x", {"n": 100})
    found = await client.store.search_items(["docs"], limit=10)
    assert sorted(i["key"] for i in found["items"]) == ["d0", "d1", "d2", "d3", "d4"]
    assert all(i["score"] is None for i in found["items"])
    kind_b = await client.store.search_items(["docs"], filter={"kind": "b"})
    assert sorted(i["key"] for i in kind_b["items"]) == ["d3", "d4"]
    big = await client.store.search_items(["docs"], filter={"n": {"$gte": 2, "$lt": 4}})
    assert sorted(i["key"] for i in big["items"]) == ["d2", "d3"]
    page = await client.store.search_items(["docs"], limit=2, offset=1)
    assert len(page["items"]) == 2
    spaces = await client.store.list_namespaces(prefix=["docs"])
    assert spaces["namespaces"] == [["docs", "team", "p0"], ["docs", "team", "p1"]]
    shallow = await client.store.list_namespaces(prefix=["docs"], max_depth=2)
    assert shallow["namespaces"] == [["docs", "team"]]
    ends = await client.store.list_namespaces(suffix=["p1"])
    assert ends["namespaces"] == [["docs", "team", "p1"]]
    wild = await client.store.list_namespaces(prefix=["docs", "*", "p0"])
    assert wild["namespaces"] == [["docs", "team", "p0"]]


async def test_ttl_expiry_and_refresh(client: LangGraphClient, module_database_url: str) -> None:
    await client.store.put_item(["ttl"], "short", {"v": 1}, ttl=1)
    await client.store.put_item(["ttl"], "kept", {"v": 2})
    assert (await client.store.get_item(["ttl"], "short"))["value"] == {"v": 1}
    conn = await asyncpg.connect(module_database_url)
    try:
        ttl = await conn.fetchval(
            "SELECT ttl_minutes FROM store_items WHERE prefix = 'ttl' AND key = 'short'"
        )
        assert ttl == 1
        # Time passes: the item expired a second ago.
        await conn.execute(
            "UPDATE store_items SET expires_at = now() - interval '1 second' WHERE key = 'short'"
        )
        assert await client.store.get_item(["ttl"], "short") is None
        found = await client.store.search_items(["ttl"])
        assert [i["key"] for i in found["items"]] == ["kept"]
        # refresh_ttl on read pushes the expiry back by the item's TTL.
        await client.store.put_item(["ttl"], "again", {"v": 3}, ttl=1)
        before = await conn.fetchval("SELECT expires_at FROM store_items WHERE key = 'again'")
        await asyncio.sleep(0.05)
        await client.store.get_item(["ttl"], "again", refresh_ttl=True)
        after = await conn.fetchval("SELECT expires_at FROM store_items WHERE key = 'again'")
        assert after > before
    finally:
        await conn.close()


async def test_graphs_use_the_same_store(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], "memory", input={"label": "zoe"})
    assert out["log"] == ["stored:zoe", "count:1"]
    item = await client.store.get_item(["memories", "zoe"], "last")
    assert item["value"] == {"label": "zoe"}
