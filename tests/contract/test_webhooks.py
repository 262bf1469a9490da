"""Webhooks: refused for loopback by default; delivered (and retried) when allowed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.core.errors import InvalidInput
from app.services import webhooks
from tests.server import running_server

CLOSED = webhooks.WebhookPolicy()
OPEN = webhooks.WebhookPolicy(allow_loopback=True, allow_private=True)

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


class Receiver:
    """A loopback HTTP endpoint that records POST bodies; answers 500 ``fail_first`` times."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.got = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        body = await reader.readexactly(length)
        self.attempts += 1
        status = b"500 Internal Server Error" if self.attempts <= self.fail_first else b"200 OK"
        if status == b"200 OK":
            self.bodies.append(json.loads(body))
            self.got.set()
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver(fail_first=1)
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield rec, f"http://127.0.0.1:{port}/hook"
    finally:
        server.close()
        await server.wait_closed()


async def test_loopback_webhook_refused_by_default(
    client: LangGraphClient, server_url: str
) -> None:
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=server_url) as http:
        res = await http.post(
            f"/threads/{thread['thread_id']}/runs",
            json={"assistant_id": "steps", "webhook": "http://localhost:9/hook"},
        )
        relative = await http.post(
            f"/threads/{thread['thread_id']}/runs",
            json={"assistant_id": "steps", "webhook": "/hook"},
        )
    assert res.status_code == 422
    assert res.json() == {"detail": "Webhook host blocked: localhost address"}
    assert relative.status_code == 422
    assert await client.runs.list(thread["thread_id"]) == []  # nothing half-written


async def test_check_refuses_private_addresses() -> None:
    for url in ("http://127.0.0.1/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.1.1/"):
        with pytest.raises(InvalidInput):
            await webhooks.check(url, CLOSED)
    await webhooks.check("http://127.0.0.1/x", OPEN)


async def test_webhook_delivered_with_retry_when_allowed(
    database_url: str, receiver: tuple[Receiver, str]
) -> None:
    # A database of its own: the module's server (which refuses loopback) must not be the
    # worker that runs this run and sends its webhook.
    rec, url = receiver
    env = {"TURNSTILE_WEBHOOK_ALLOW_PRIVATE": "true"}
    with running_server(database_url, config=GRAPHS, env=env) as base:
        client = get_client(url=base)
        try:
            thread = await client.threads.create()
            run = await client.runs.create(
                thread["thread_id"], "steps", input={"label": "w"}, webhook=url
            )
            await client.runs.join(thread["thread_id"], run["run_id"])
            await asyncio.wait_for(rec.got.wait(), 20)
        finally:
            await client.http.client.aclose()
    (body,) = rec.bodies
    assert rec.attempts == 2  # the first answer was a 500: retried
    assert body["run_id"] == run["run_id"]
    assert body["thread_id"] == thread["thread_id"]
    assert body["status"] == "success"
    assert body["values"] == {"label": "w", "log": ["w", "done:w"]}
    assert body["run_started_at"] <= body["run_ended_at"] <= body["webhook_sent_at"]
    assert "error" not in body
