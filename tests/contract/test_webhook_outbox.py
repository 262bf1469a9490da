"""The webhook outbox, against real server processes: delivered after a restart, retried
with backoff, one success recorded, 4xx not retried, ``failed`` after the last attempt."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from prometheus_client.parser import text_string_to_metric_families

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
ENV = {
    "TURNSTILE_WEBHOOK_ALLOW_PRIVATE": "true",
    "TURNSTILE_WEBHOOK_BACKOFF_SECONDS": "0.2",
    "TURNSTILE_WEBHOOK_MAX_ATTEMPTS": "4",
}


class Receiver:
    """A loopback HTTP endpoint: each path answers from its script of statuses (the last one
    repeats), and records every request (time, path, body, status)."""

    def __init__(self, scripts: dict[str, list[int]]) -> None:
        self.scripts = scripts
        self.seen: dict[str, int] = defaultdict(int)
        self.requests: list[tuple[float, str, dict[str, Any], int]] = []
        self.changed = asyncio.Event()
        self.base = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await self._handle(reader, writer)  # (the sender may die mid-request)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        body = json.loads(await reader.readexactly(length))
        script = self.scripts[path]
        status = script[min(self.seen[path], len(script) - 1)]
        self.seen[path] += 1
        self.requests.append((time.monotonic(), path, body, status))
        self.changed.set()
        if status == 0:  # never answer: hold the connection until the sender goes away
            await reader.read()
            return
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    def url(self, path: str) -> str:
        return self.base + path

    def times(self, path: str) -> list[float]:
        return [t for t, p, _, _ in self.requests if p == path]


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[Receiver]:
    rec = Receiver(request.param)
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield rec
    finally:
        server.close()
        await server.wait_closed()


async def _deliveries(database_url: str) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT * FROM webhook_deliveries")
    finally:
        await conn.close()
    return {str(r["run_id"]): r for r in rows}


async def _until(database_url: str, ready: Any, within: float = 30.0) -> dict[str, Any]:
    """Poll the outbox until ``ready(rows)`` (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + within
    while True:
        rows = await _deliveries(database_url)
        if ready(rows):
            return rows
        assert time.monotonic() < deadline, f"outbox never got there: {rows}"
        await asyncio.sleep(0.05)


async def _run(base: str, hook: str) -> str:
    client = get_client(url=base)
    try:
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"], "single", input={"label": "w"}, webhook=hook
        )
        await client.runs.join(thread["thread_id"], run["run_id"])
        return str(run["run_id"])
    finally:
        await client.http.client.aclose()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("receiver", [{"/hook": [503, 200]}], indirect=True)
async def test_delivered_once_after_a_restart(database_url: str, receiver: Receiver) -> None:
    """The first POST answers 503; the server is killed (SIGKILL) before its retry; a new
    server process sends the row it left pending, once."""
    env = {**ENV, "TURNSTILE_WEBHOOK_BACKOFF_SECONDS": "3"}
    with running_server(database_url, config=GRAPHS, env=env, stop_signal=signal.SIGKILL) as a:
        run_id = await _run(a, receiver.url("/hook"))
        await _until(database_url, lambda r: run_id in r and r[run_id]["last_error"] == "HTTP 503")
    killed = time.monotonic()
    rows = await _deliveries(database_url)
    assert (rows[run_id]["status"], rows[run_id]["attempts"]) == ("pending", 1)
    with running_server(database_url, config=GRAPHS, env=env):
        up = time.monotonic()
        rows = await _until(database_url, lambda r: r[run_id]["status"] != "pending")
        restarted = time.monotonic()
        await asyncio.sleep(0)  # let the receiver record the request it answered
    row = rows[run_id]
    statuses = [(s, b["run_id"]) for _, _, b, s in receiver.requests]
    print(
        f"\nrestart: delivered {row['delivered_at'] - row['created_at']} after the run ended, "
        f"{restarted - killed:.1f}s after the kill, {restarted - up:.2f}s after the new server "
        f"answered /ok (its start took {up - killed:.1f}s); requests {statuses}"
    )
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 2, None)
    assert statuses == [(503, run_id), (200, run_id)]
    assert receiver.requests[1][0] > killed  # sent by the second process
    body = receiver.requests[1][2]
    assert body["status"] == "success"
    assert body["values"] == {"label": "w", "log": ["w"]}
    assert body["run_started_at"] <= body["run_ended_at"] <= body["webhook_sent_at"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("receiver", [{"/hook": [0, 200]}], indirect=True)
async def test_leased_row_of_a_killed_sender_is_sent(database_url: str, receiver: Receiver) -> None:
    """The server is SIGKILLed while its POST is under way (the receiver never answers):
    the row stays leased; the next server sends it once the lease runs out."""
    env = {**ENV, "TURNSTILE_WEBHOOK_TIMEOUT_SECONDS": "1"}  # lease: 2 * 1 + 5 = 7 s
    with running_server(database_url, config=GRAPHS, env=env, stop_signal=signal.SIGKILL) as a:
        run_id = await _run(a, receiver.url("/hook"))
        while not receiver.requests:
            await asyncio.wait_for(receiver.changed.wait(), 30)
            receiver.changed.clear()
    killed = time.monotonic()
    rows = await _deliveries(database_url)
    assert (rows[run_id]["status"], rows[run_id]["attempts"]) == ("pending", 1)
    with running_server(database_url, config=GRAPHS, env=env):
        rows = await _until(database_url, lambda r: r[run_id]["status"] != "pending")
        await asyncio.sleep(0)
    row = rows[run_id]
    print(
        f"\nkilled mid-POST: sent again {receiver.requests[1][0] - receiver.requests[0][0]:.1f}s "
        f"after the first POST (lease 7 s), {receiver.requests[1][0] - killed:.1f}s after the kill"
    )
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert [s for _, _, _, s in receiver.requests] == [0, 200]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "receiver",
    [{"/flaky": [429, 503, 500, 200], "/gone": [404], "/down": [502]}],
    indirect=True,
)
async def test_retries_backoff_and_give_up(database_url: str, receiver: Receiver) -> None:
    """429 and 5xx are retried with a growing delay, up to the last attempt (then
    ``failed``); a 404 fails at once; the success is recorded once."""
    with running_server(database_url, config=GRAPHS, env=ENV) as base:
        flaky, gone, down = await asyncio.gather(
            _run(base, receiver.url("/flaky")),
            _run(base, receiver.url("/gone")),
            _run(base, receiver.url("/down")),
        )
        rows = await _until(
            database_url,
            lambda r: len(r) == 3 and all(x["status"] != "pending" for x in r.values()),
        )
        # Each POST's outcome is counted before it is recorded.
        async with httpx.AsyncClient(base_url=base) as http:
            text = (await http.get("/metrics")).text
    outcomes = {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "turnstile_webhook_deliveries_total"
    }
    assert outcomes == {"delivered": 1, "retry": 6, "failed": 2}
    assert (rows[flaky]["status"], rows[flaky]["attempts"]) == ("delivered", 4)
    assert (rows[gone]["status"], rows[gone]["attempts"]) == ("failed", 1)
    assert rows[gone]["last_error"] == "HTTP 404"
    assert (rows[down]["status"], rows[down]["attempts"]) == ("failed", 4)
    assert rows[down]["last_error"] == "HTTP 502"
    assert receiver.seen == {"/flaky": 4, "/gone": 1, "/down": 4}
    for path in ("/flaky", "/down"):
        times = receiver.times(path)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        print(f"\n{path}: gaps between attempts {[round(g, 2) for g in gaps]} s (base 0.2 s)")
        # The row is not due before its backoff: base * 2**(n-1), at least half of it.
        for n, gap in enumerate(gaps, start=1):
            assert gap >= 0.2 * 2 ** (n - 1) / 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("receiver", [{"/hook": [200]}], indirect=True)
async def test_two_senders_one_delivery_each(database_url: str, receiver: Receiver) -> None:
    """Two server processes (two senders) on one outbox: every run's webhook is POSTed once
    and recorded delivered once."""
    with (
        running_server(database_url, config=GRAPHS, env=ENV) as a,
        running_server(database_url, config=GRAPHS, env=ENV) as b,
    ):
        runs = await asyncio.gather(
            *(_run(a if i % 2 else b, receiver.url("/hook")) for i in range(40))
        )
        rows = await _until(
            database_url,
            lambda r: len(r) == 40 and all(x["status"] != "pending" for x in r.values()),
        )
    sent = [body["run_id"] for _, _, body, _ in receiver.requests]
    lag = sorted((r["delivered_at"] - r["created_at"]).total_seconds() for r in rows.values())
    print(
        f"\ntwo senders: {len(sent)} POSTs for {len(runs)} runs; run end to delivered: "
        f"median {lag[len(lag) // 2] * 1000:.0f} ms, max {lag[-1] * 1000:.0f} ms"
    )
    assert sorted(sent) == sorted(runs)
    assert all(r["status"] == "delivered" and r["attempts"] == 1 for r in rows.values())
