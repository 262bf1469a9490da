"""Threads through the official SDK against a real server process (API.md §2.2, §7)."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

EMPTY_STATE = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


async def test_create_without_id_gives_a_uuid7_idle_thread(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = uuid.UUID(thread["thread_id"])
    assert tid.version == 7
    assert thread["status"] == "idle"
    assert thread["values"] is None
    assert thread["config"] == {}
    assert thread["metadata"] == {}
    assert thread["created_at"].endswith("+00:00")


async def test_create_with_id_and_metadata(client: LangGraphClient) -> None:
    tid = str(uuid.uuid4())
    thread = await client.threads.create(thread_id=tid, metadata={"user": "ann"}, graph_id="agent")
    assert thread["thread_id"] == tid
    assert thread["metadata"] == {"user": "ann", "graph_id": "agent"}
    fetched = await client.threads.get(tid)
    assert fetched == thread


async def test_if_exists_raise_and_do_nothing(client: LangGraphClient) -> None:
    tid = str(uuid.uuid4())
    first = await client.threads.create(thread_id=tid, metadata={"v": 1})
    with pytest.raises(ConflictError) as exc:
        await client.threads.create(thread_id=tid, metadata={"v": 2})
    assert exc.value.response.json() == {"detail": f"Thread with ID {tid} already exists"}
    same = await client.threads.create(thread_id=tid, metadata={"v": 3}, if_exists="do_nothing")
    assert same == first


async def test_reserved_metadata_keys_are_stripped(client: LangGraphClient) -> None:
    thread = await client.threads.create(metadata={"run_id": "x", "thread_id": "y", "keep": 1})
    assert thread["metadata"] == {"keep": 1}


async def test_update_merges_metadata(client: LangGraphClient) -> None:
    thread = await client.threads.create(metadata={"a": 1, "b": 1})
    updated = await client.threads.update(thread["thread_id"], metadata={"b": 2, "c": 3})
    assert updated["metadata"] == {"a": 1, "b": 2, "c": 3}
    assert updated["updated_at"] >= thread["updated_at"]
    assert (await client.threads.get(thread["thread_id"]))["metadata"] == updated["metadata"]


async def test_update_return_minimal_gives_204(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.patch(
            f"/threads/{thread['thread_id']}",
            json={"metadata": {"x": 1}},
            headers={"Prefer": "return=minimal"},
        )
    assert r.status_code == 204
    assert r.content == b""
    assert (await client.threads.get(thread["thread_id"]))["metadata"] == {"x": 1}


async def test_delete(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    await client.threads.delete(thread["thread_id"])
    with pytest.raises(NotFoundError) as exc:
        await client.threads.get(thread["thread_id"])
    assert exc.value.response.json() == {
        "detail": f"Thread with ID {thread['thread_id']} not found"
    }
    with pytest.raises(NotFoundError):
        await client.threads.delete(thread["thread_id"])


async def test_search_filters_sort_and_pagination(server_url: str, client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    made = [await client.threads.create(metadata={"tag": tag, "i": i}) for i in range(5)]
    other = await client.threads.create(metadata={"tag": "other"})

    found = await client.threads.search(metadata={"tag": tag}, limit=10)
    assert [t["thread_id"] for t in found] == [t["thread_id"] for t in reversed(made)]

    asc = await client.threads.search(metadata={"tag": tag}, sort_by="created_at", sort_order="asc")
    assert [t["thread_id"] for t in asc] == [t["thread_id"] for t in made]

    one = await client.threads.search(metadata={"tag": tag, "i": 3})
    assert [t["thread_id"] for t in one] == [made[3]["thread_id"]]

    by_id = await client.threads.search(ids=[made[0]["thread_id"], other["thread_id"]])
    assert {t["thread_id"] for t in by_id} == {made[0]["thread_id"], other["thread_id"]}

    assert await client.threads.search(metadata={"tag": tag}, status="busy") == []
    idle = await client.threads.search(metadata={"tag": tag}, status="idle")
    assert len(idle) == 5

    selected = await client.threads.search(metadata={"tag": tag}, select=["thread_id", "status"])
    assert all(set(t) == {"thread_id", "status"} for t in selected)

    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post("/threads/search", json={"metadata": {"tag": tag}, "limit": 2})
        # The reference's total (API.md §8): the least it can be while more follow, exact
        # on the last page; past the end, where the match ends.
        assert r.headers["x-pagination-total"] == "3"
        assert r.headers["x-pagination-next"] == "2"
        r = await http.post(
            "/threads/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 4}
        )
        assert len(r.json()) == 1
        assert r.headers["x-pagination-total"] == "5"
        assert "x-pagination-next" not in r.headers
        r = await http.post(
            "/threads/search", json={"metadata": {"tag": tag}, "limit": 2, "offset": 9}
        )
        assert (r.json(), r.headers["x-pagination-total"]) == ([], "5")
        assert "x-pagination-next" not in r.headers
        r = await http.post("/threads/search", json={"ids": ["not-a-uuid"]})
        assert r.status_code == 400
        assert "detail" in r.json()
        r = await http.post(
            "/threads/search",
            json={"metadata": {"tag": tag, "i": 1}, "extract": {"who": "metadata.tag"}},
        )
        assert r.json()[0]["extracted"] == {"who": tag}


async def test_count_with_each_filter(client: LangGraphClient) -> None:
    tag = uuid.uuid4().hex
    for i in range(3):
        await client.threads.create(metadata={"tag": tag, "even": i % 2 == 0})
    assert await client.threads.count(metadata={"tag": tag}) == 3
    assert await client.threads.count(metadata={"tag": tag, "even": True}) == 2
    assert await client.threads.count(metadata={"tag": tag}, status="idle") == 3
    assert await client.threads.count(metadata={"tag": tag}, status="error") == 0
    assert await client.threads.count(metadata={"tag": tag}, values={"messages": []}) == 0


async def _rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM threads"))
    finally:
        await conn.close()


async def test_unfiltered_count_is_exact(client: LangGraphClient, module_database_url: str) -> None:
    """``threads.count()`` reads the trigger-kept counter (migration 0015): it follows creates,
    copies and deletes exactly, and a filter still counts only what it matches."""
    assert await client.threads.count() == await _rows(module_database_url)
    tag = uuid.uuid4().hex
    made = [(await client.threads.create(metadata={"tag": tag}))["thread_id"] for _ in range(4)]
    copied = await client.threads.copy(made[0])
    total = await client.threads.count()
    assert total == await _rows(module_database_url)
    assert await client.threads.count(metadata={"tag": tag}) == 5  # the copy keeps metadata
    for tid in (*made[:2], copied["thread_id"]):
        await client.threads.delete(tid)
    assert await client.threads.count() == total - 3 == await _rows(module_database_url)
    assert await client.threads.count(metadata={"tag": tag}) == 2
    assert await client.threads.count(status="busy") == 0


async def test_state_and_history_of_an_empty_thread(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    assert await client.threads.get_state(thread["thread_id"]) == EMPTY_STATE
    assert await client.threads.get_history(thread["thread_id"]) == []


async def test_get_history_route_and_bad_limit(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.get(f"/threads/{thread['thread_id']}/history")
        assert (r.status_code, r.json()) == (200, [])
        r = await http.get(f"/threads/{thread['thread_id']}/history", params={"limit": "x"})
        assert r.status_code == 422


async def test_state_of_a_missing_thread_is_404(client: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await client.threads.get_state(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        await client.threads.get_history(str(uuid.uuid4()))


async def test_bad_input(server_url: str, client: LangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError) as exc:
        await client.threads.get("not-a-uuid")
    assert exc.value.response.json() == {"detail": "Invalid thread ID: must be a UUID"}
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post(
            "/threads", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert (r.status_code, r.json()) == (422, {"detail": "Invalid JSON in request body"})
        r = await http.post("/threads", json={"metadata": "not an object"})
        assert r.status_code == 422
        assert isinstance(r.json()["detail"], str)
        r = await http.post("/threads", json={"thread_id": "nope"})
        assert r.status_code == 422
        r = await http.post("/threads", json={"if_exists": "sometimes"})
        assert r.status_code == 422
        r = await http.post("/threads/search", json={"limit": -1})
        assert r.status_code == 422
        r = await http.post("/threads/search", json={"sort_by": "metadata"})
        assert r.status_code == 422
        r = await http.get("/nowhere")
        assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
        # A failed create leaves nothing behind.
        before = await client.threads.count()
        r = await http.post("/threads", json={"thread_id": str(uuid.uuid4()), "ttl": "bad"})
        assert r.status_code == 422
        assert await client.threads.count() == before
