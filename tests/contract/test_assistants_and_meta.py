"""Assistants (system assistants from the graph registry) and meta endpoints."""

from __future__ import annotations

import uuid
from importlib.metadata import version

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

AGENT_ID = str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent"))


async def test_system_assistant_by_uuid5(client: LangGraphClient) -> None:
    assistant = await client.assistants.get(AGENT_ID)
    assert assistant["assistant_id"] == AGENT_ID
    assert assistant["graph_id"] == "agent"
    assert assistant["metadata"] == {"created_by": "system"}
    assert assistant["version"] == 1
    assert assistant["name"] == "agent"
    assert assistant["config"] == {}
    assert assistant["context"] == {}


async def test_get_by_graph_id_or_unknown(client: LangGraphClient) -> None:
    with pytest.raises(UnprocessableEntityError):
        await client.assistants.get("agent")
    with pytest.raises(NotFoundError):
        await client.assistants.get(str(uuid.uuid4()))


async def test_search_and_count(server_url: str, client: LangGraphClient) -> None:
    found = await client.assistants.search()
    assert [a["assistant_id"] for a in found] == [AGENT_ID]
    assert await client.assistants.search(graph_id="agent", metadata={"created_by": "system"})
    assert await client.assistants.search(metadata={"created_by": "someone"}) == []
    assert await client.assistants.search(name="AGE")
    assert await client.assistants.search(name="zzz") == []
    page = await client.assistants.search(response_format="object")
    assert page["next"] is None
    assert len(page["assistants"]) == 1
    selected = await client.assistants.search(select=["assistant_id", "name"])
    assert selected == [{"assistant_id": AGENT_ID, "name": "agent"}]
    assert await client.assistants.count() == 1
    assert await client.assistants.count(graph_id="agent") == 1
    assert await client.assistants.count(metadata={"created_by": "x"}) == 0
    with pytest.raises(NotFoundError):
        await client.assistants.search(graph_id="nope")
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post("/assistants/search", json={"select": ["bogus"]})
        assert r.status_code == 422


async def test_ok_and_info(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        assert (await http.get("/ok")).json() == {"ok": True}
        r = await http.get("/ok", params={"check_db": "1"})
        assert r.json()["ok"] is True
        info = (await http.get("/info")).json()
        assert info["flags"]["assistants"] is True
        assert info["version"] == version("turnstile")
        assert info["langgraph_py_version"] == version("langgraph")
        r = await http.options(
            "/threads/search",
            headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
        )
        assert r.status_code == 204
        r = await http.post("/threads/search", json={}, headers={"Origin": "http://example.test"})
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "x-pagination-next" in exposed
        assert "content-location" in exposed
