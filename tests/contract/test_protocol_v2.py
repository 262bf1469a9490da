"""Protocol v2 thread streaming through the official SDK (``client.threads.stream()``,
API.md §2.6) against real server processes: commands, the SSE of v2 events, resume with
``since``, double-texting, a second API process, and the commands' error codes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
QUESTION = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}
ALL = ["values", "updates", "messages", "tools", "lifecycle", "input", "tasks", "custom"]
DEADLINE = 20.0


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(
        module_database_url, config=GRAPHS, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0"}
    ) as url:
        yield url


async def _command(
    http: httpx.AsyncClient, tid: str, method: str, params: Any, cid: int = 1
) -> dict[str, Any]:
    r = await http.post(
        f"/threads/{tid}/commands", json={"id": cid, "method": method, "params": params}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["id"] == cid
    return body


async def _events(
    http: httpx.AsyncClient, tid: str, body: dict[str, Any], *, until: str = "completed"
) -> AsyncIterator[dict[str, Any]]:
    """The stream's events (checking each frame's shape) until the root lifecycle ``until``."""
    async with http.stream("POST", f"/threads/{tid}/stream/events", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(": ")
                frame[key] = value
                continue
            if not frame:
                continue
            event = json.loads(frame["data"])
            assert frame["event"] == event["method"]
            assert frame["id"] == str(event["seq"])
            assert event["type"] == "event"
            assert isinstance(event["params"]["timestamp"], int)
            frame = {}
            yield event
            data = event["params"]["data"]
            if (
                event["method"] == "lifecycle"
                and not event["params"]["namespace"]
                and data["event"] == until
            ):
                return


async def _collect(
    http: httpx.AsyncClient, tid: str, body: dict[str, Any], until: str = "completed"
) -> list[dict[str, Any]]:
    async with asyncio.timeout(DEADLINE):
        return [e async for e in _events(http, tid, body, until=until)]


def _http(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=DEADLINE)


async def test_thread_stream_values_lifecycle_and_output(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="steps") as thread:
        started = await thread.run.start(input={"label": "v2"})
        assert uuid.UUID(started["run_id"])
        snapshots = []
        async with asyncio.timeout(DEADLINE):
            async for snapshot in thread.values:
                snapshots.append(snapshot)
            output = await thread.output
    assert output["log"] == ["v2", "done:v2"]
    assert snapshots[-1]["log"] == ["v2", "done:v2"]
    run = await client.runs.get(thread.thread_id, started["run_id"])
    assert run["status"] == "success"
