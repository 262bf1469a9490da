"""Thread TTL: set on create and patch, shown with include=ttl, acted on by the sweep."""

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
    # A short lease makes the housekeeping tick (lease / 3) short, so the sweep runs often.
    env = {"TURNSTILE_LEASE_SECONDS": "1.5"}
    with running_server(module_database_url, config=GRAPHS, env=env) as url:
        yield url


async def _expire(url: str, thread_id: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE threads SET expires_at = now() - interval '1 second' WHERE thread_id = $1",
            thread_id,
        )
    finally:
        await conn.close()


async def _gone(client: LangGraphClient, thread_id: str) -> bool:
    for _ in range(100):
        try:
            await client.threads.get(thread_id)
        except httpx.HTTPStatusError as exc:
            return exc.response.status_code == 404
        await asyncio.sleep(0.1)
    return False


async def test_ttl_shown_and_delete_strategy(
    client: LangGraphClient, server_url: str, module_database_url: str
) -> None:
    thread = await client.threads.create(ttl=30)
    tid = thread["thread_id"]
    assert "ttl" not in thread
    async with httpx.AsyncClient(base_url=server_url) as http:
        shown = (await http.get(f"/threads/{tid}", params={"include": "ttl"})).json()
        bad = await http.post("/threads", json={"ttl": {"ttl": 5, "strategy": "archive"}})
    assert shown["ttl"]["strategy"] == "delete"
    assert shown["ttl"]["ttl_minutes"] == 30
    assert shown["ttl"]["expires_at"]
    assert bad.status_code == 422
    await client.runs.wait(tid, "steps", input={"label": "t"})
    plain = await client.threads.create()
    before = await client.threads.count()
    await _expire(module_database_url, tid)
    assert await _gone(client, tid)
    # A thread without TTL stays: it existed when the sweep that deleted ``tid`` ran.
    assert (await client.threads.get(plain["thread_id"]))["thread_id"] == plain["thread_id"]
    assert await client.threads.count() == before - 1  # the counter followed the sweep


async def test_keep_latest_prunes_history(
    client: LangGraphClient, server_url: str, module_database_url: str
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.threads.update(tid, metadata={"k": 1}, ttl={"ttl": 10, "strategy": "keep_latest"})
    await client.runs.wait(tid, "steps", input={"label": "a"})
    await client.runs.wait(tid, "steps", input={"label": "b"})
    assert len(await client.threads.get_history(tid, limit=50)) > 1
    await _expire(module_database_url, tid)
    for _ in range(100):
        if len(await client.threads.get_history(tid, limit=50)) == 1:
            break
        await asyncio.sleep(0.1)
    history = await client.threads.get_history(tid, limit=50)
    assert len(history) == 1
    assert history[0]["values"]["log"][-1] == "done:b"
    assert (await client.threads.get(tid))["metadata"]["k"] == 1
