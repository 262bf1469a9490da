"""MCP at ``/mcp`` (API.md §12.1) with the official clients: the ``mcp`` SDK's
Streamable-HTTP client and ``langchain-mcp-adapters``, against a real server on the test
graphs (and one with custom auth, ``docs/auth``).

What the reference server answers (checked against ``langgraph dev`` 0.16.7): one tool per
assistant, its name normalised, ``messages`` taken as a string, pages of 100 assistants with
the offset as cursor, graph errors as ``isError`` results, unknown tools as -32602,
``GET`` 405 and ``DELETE`` 404, notifications 202.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph_sdk import get_client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from tests.contract.auth_example import ALICE, BOB
from tests.server import ROOT, running_server

GRAPHS = str(ROOT / "tests" / "graphs" / "langgraph.json")
ACCEPT = {"Accept": "application/json, text/event-stream"}
MESSAGES_ARGUMENT = {
    "type": "string",
    "title": "Messages",
    "description": "The user message to send to the agent.",
}


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


@asynccontextmanager
async def session(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers=headers or {}, timeout=30) as http,
        streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as mcp_session,
    ):
        await mcp_session.initialize()
        yield mcp_session


async def rpc(
    url: str, method: str, params: dict[str, Any] | None = None, *, path: str = "/mcp"
) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        message["params"] = params
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post(path, json=message, headers=ACCEPT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] == 7
    return body


async def test_the_official_client_lists_and_calls_tools(server_url: str) -> None:
    async with session(server_url) as mcp_session:
        tools = {tool.name: tool for tool in (await mcp_session.list_tools()).tools}
        assert {"agent", "steps", "fail", "ask", "Chatter"} <= set(tools)
        chat = tools["Chatter"]
        assert chat.description == "Tool based on the Chatter assistant"
        assert chat.inputSchema["properties"]["messages"] == MESSAGES_ARGUMENT
        assert chat.inputSchema["properties"]["topic"] == {"title": "Topic", "type": "string"}
        assert chat.inputSchema["required"] == ["messages"]
        assert "$defs" not in chat.inputSchema
        assert tools["steps"].inputSchema["properties"]["label"] == {
            "title": "Label",
            "type": "string",
        }

        answered = await mcp_session.call_tool("Chatter", {"messages": "hello", "topic": "t"})
        assert not answered.isError
        output = json.loads(answered.content[0].text)  # type: ignore[union-attr]
        assert [m["type"] for m in output["messages"]] == ["human", "ai"]
        assert output["messages"][-1]["content"] == "[t] echo: hello"

        failed = await mcp_session.call_tool("fail", {"label": "x"})
        assert failed.isError
        assert failed.content[0].text == "ValueError: boom: x"  # type: ignore[union-attr]

        asked = await mcp_session.call_tool("ask", {})
        assert not asked.isError
        interrupts = json.loads(asked.content[0].text)["__interrupt__"]  # type: ignore[union-attr]
        assert interrupts[0]["value"] == {"question": "continue?"}

        with pytest.raises(McpError) as unknown:
            await mcp_session.call_tool("no-such-tool", {})
        assert unknown.value.error.code == -32602
        assert unknown.value.error.message == "Unknown tool: no-such-tool"

    # Each call was a stateless run: its thread is gone once it answered.
    client = get_client(url=server_url)
    assert await client.threads.search(limit=100) == []


async def test_the_protocol_over_plain_http(server_url: str) -> None:
    for asked, agreed in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ]:
        params = {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t"}}
        for path in ("/mcp", "/mcp/"):
            result = (await rpc(server_url, "initialize", params, path=path))["result"]
            assert result["protocolVersion"] == agreed
            assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert (await rpc(server_url, "ping"))["result"] == {}
    missing = await rpc(server_url, "resources/list")
    assert missing["error"] == {"code": -32601, "message": "Method not found: resources/list"}
    bad_arguments = await rpc(server_url, "tools/call", {"name": "steps", "arguments": "x"})
    assert bad_arguments["error"]["code"] == -32602

    async with httpx.AsyncClient(base_url=server_url) as http:
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        initialized = await http.post("/mcp", json=note, headers=ACCEPT)
        assert (initialized.status_code, initialized.content) == (202, b"")
        stream = await http.get("/mcp", headers=ACCEPT)
        assert (stream.status_code, stream.headers["allow"]) == (405, "POST")
        assert "stateless" in stream.json()["detail"]
        ended = await http.delete("/mcp")
        assert ended.status_code == 404
        assert "stateless" in ended.json()["detail"]
        assert not initialized.headers.get("content-type", "").startswith("application/json")
        not_json = await http.post("/mcp", content=b"{nope", headers=ACCEPT)
        assert not_json.status_code == 400
        assert not_json.json()["error"]["code"] == -32700
        batch = await http.post("/mcp", json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        assert batch.status_code == 400
        assert batch.json()["error"]["code"] == -32600
        no_version = await http.post("/mcp", json={"id": 1, "method": "ping"}, headers=ACCEPT)
        assert no_version.status_code == 400
        html = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "text/html"},
        )
        assert html.status_code == 400
        spec = (await http.get("/openapi.json")).json()
        assert set(spec["paths"]["/mcp/"]) == {"get", "post", "delete"}
        assert "requestBody" in spec["paths"]["/mcp/"]["post"]


async def test_names_are_normalised_and_listed_in_pages(server_url: str) -> None:
    client = get_client(url=server_url)
    fancy = "My Fancy Agent! (v2) été"
    await client.assistants.create("steps", name=fancy, description="the first one")
    await client.assistants.create("steps", name=fancy)  # newer: the one listed
    for name in ("a  b", "  lead trail  ", "a-b.c:d/e"):
        await client.assistants.create("chat", name=name, description=f"about {name}")
    listed = (await rpc(server_url, "tools/list"))["result"]
    tools = {tool["name"]: tool for tool in listed["tools"]}
    assert tools["My_Fancy_Agent_v2_t"]["title"] == fancy
    assert tools["My_Fancy_Agent_v2_t"]["description"] == f"Tool based on the {fancy} assistant"
    assert [t["name"] for t in listed["tools"]].count("My_Fancy_Agent_v2_t") == 1
    assert tools["a_b"]["description"] == "about a  b"
    assert tools["a_b"]["inputSchema"]["properties"]["messages"] == MESSAGES_ARGUMENT
    assert {"lead_trail", "a-b.cde"} <= set(tools)
    assert tools["a_b"]["annotations"]["openWorldHint"] is True
    assert "nextCursor" not in listed

    called = await rpc(server_url, "tools/call", {"name": "a_b", "arguments": {"messages": "x"}})
    text = called["result"]["content"][0]["text"]
    assert json.loads(text)["messages"][-1]["content"] == "echo: x"
    shared = await rpc(server_url, "tools/call", {"name": "My_Fancy_Agent_v2_t"})
    assert shared["error"] == {
        "code": -32602,
        "message": "Multiple tools found with the same name.",
    }

    total = len(await client.assistants.search(limit=1000))
    await asyncio.gather(
        *(client.assistants.create("steps", name=f"bulk {i}") for i in range(101 - total))
    )
    async with session(server_url) as mcp_session:
        first = await mcp_session.list_tools()
        assert len(first.tools) == 100 - 1  # the two fancy ones are one tool
        assert first.nextCursor == "100"
        rest = await mcp_session.list_tools(cursor=first.nextCursor)
        assert len(rest.tools) == 1
        assert rest.nextCursor is None
    names = {tool.name for tool in [*first.tools, *rest.tools]}
    assert {"agent", "steps", "Chatter", "bulk_0", "a_b"} <= names
    bad = await rpc(server_url, "tools/list", {"cursor": "-1"})
    assert bad["error"]["code"] == -32602


async def test_langchain_adapters_load_the_tools_for_a_graph(server_url: str) -> None:
    client = MultiServerMCPClient(
        {"turnstile": {"url": f"{server_url}/mcp", "transport": "streamable_http"}}
    )
    tools = {tool.name: tool for tool in await client.get_tools()}
    chat = tools["Chatter"]
    direct = await chat.ainvoke({"messages": "straight"})
    assert "echo: straight" in str(direct)

    node = ToolNode([chat])
    builder = StateGraph(MessagesState)
    builder.add_node("tools", node)
    builder.add_edge(START, "tools")
    graph = builder.compile()
    call = {"name": "Chatter", "args": {"messages": "from a graph"}, "id": "call-1"}
    out = await graph.ainvoke({"messages": [AIMessage(content="", tool_calls=[call])]})
    reply = out["messages"][-1]
    assert reply.type == "tool"
    assert reply.tool_call_id == "call-1"
    assert "echo: from a graph" in str(reply.content)


async def test_http_flags_switch_mcp_and_a2a_off(module_database_url: str, tmp_path: Path) -> None:
    chat = ROOT / "tests" / "graphs" / "chat.py"
    config = {
        "graphs": {"chat": f"{chat}:graph"},
        "http": {"disable_mcp": True, "disable_a2a": True},
    }
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    with running_server(module_database_url, config=str(tmp_path / "langgraph.json")) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
            assert (await http.post("/mcp", json=ping, headers=ACCEPT)).status_code == 404
            assert (await http.post("/a2a/chat", json=ping)).status_code == 404
            card = await http.get("/.well-known/agent-card.json", params={"assistant_id": "chat"})
            assert card.status_code == 404
            assert (await http.post("/threads/search", json={})).status_code == 200


async def test_custom_auth_applies(auth_url: str) -> None:
    async with httpx.AsyncClient(base_url=auth_url) as http:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        refused = await http.post("/mcp", json=ping, headers=ACCEPT)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "Missing bearer token"}
    alice = get_client(url=auth_url, headers=ALICE)
    await alice.assistants.create("agent", name="alice helper")
    async with session(auth_url, ALICE) as mcp_session:
        names = {tool.name for tool in (await mcp_session.list_tools()).tools}
        assert "alice_helper" in names
        answered = await mcp_session.call_tool("alice_helper", {"messages": "hi"})
        assert not answered.isError
    async with session(auth_url, BOB) as mcp_session:
        names = {tool.name for tool in (await mcp_session.list_tools()).tools}
        assert "alice_helper" not in names
        with pytest.raises(McpError) as hidden:
            await mcp_session.call_tool("alice_helper", {"messages": "hi"})
        assert hidden.value.error.message == "Unknown tool: alice_helper"
