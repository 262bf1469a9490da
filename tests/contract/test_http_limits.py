"""HTTP limits on a real server process, with real sockets: slowloris connections are closed
after the head deadline while an SDK client keeps working, oversized heads answer 431 (and
long request lines 414) and close, keep-alive connections end after their idle time and
their request budget, and connections past the cap get 503."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from langgraph_sdk import get_client

from tests.server import running_server

HEAD_TIMEOUT = 2.0
KEEPALIVE = 3.0
"""Longer than the head timeout: between requests only the keep-alive timeout counts."""
ENV = {
    "TURNSTILE_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
    "TURNSTILE_KEEPALIVE_TIMEOUT_SECONDS": str(KEEPALIVE),
    "TURNSTILE_KEEPALIVE_MAX_REQUESTS": "3",
    "TURNSTILE_MAX_HEADER_BYTES": "8192",
    "TURNSTILE_MAX_REQUEST_LINE_BYTES": "2048",
    "TURNSTILE_MAX_CONNECTIONS": "700",
}


@pytest.fixture(scope="module")
def base(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, env=ENV) as url:
        yield url


def _addr(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    pairs = (line.split(":", 1) for line in lines[1:] if line)
    headers = {k.strip().lower(): v.strip() for k, v in pairs}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


@pytest.mark.timeout(120)
async def test_slowloris_connections_are_closed(base: str) -> None:
    host, port = _addr(base)
    n = 500
    opened = time.monotonic()
    closed_at: list[float] = []
    answers: list[bytes] = []
    stop = asyncio.Event()

    async def slow_client() -> None:
        reader, writer = await asyncio.open_connection(host, port)

        async def trickle() -> None:
            writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n")
            with_header = b"X-Slow: " + b"a" * 1000
            for byte in with_header:  # one byte every 0.25 s: the head never ends in time
                if stop.is_set() or writer.is_closing():
                    return
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                except (ConnectionError, OSError):
                    return
                await asyncio.sleep(0.25)

        task = asyncio.create_task(trickle())
        try:
            data = await reader.read(65536)  # b"" (EOF) or the server's 408
            closed_at.append(time.monotonic())
            answers.append(data.split(b"\r\n", 1)[0])
        except (ConnectionError, OSError):
            closed_at.append(time.monotonic())
            answers.append(b"reset")
        finally:
            task.cancel()
            writer.close()

    clients = [asyncio.create_task(slow_client()) for _ in range(n)]
    sdk = get_client(url=base)
    sdk_ok = 0
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while len(closed_at) < n and time.monotonic() < deadline:
            t0 = time.monotonic()
            thread = await sdk.threads.create()
            await sdk.runs.wait(thread["thread_id"], "agent", input={"messages": []})
            latencies.append(time.monotonic() - t0)
            sdk_ok += 1
        stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), 10)
    finally:
        stop.set()
        for c in clients:
            c.cancel()
        await sdk.http.client.aclose()
    lifetimes = sorted(t - opened for t in closed_at)
    kinds = {a: answers.count(a) for a in set(answers)}
    print(
        f"\nslowloris: {len(closed_at)}/{n} closed by the server; lifetime min "
        f"{lifetimes[0]:.2f}s median {statistics.median(lifetimes):.2f}s max {lifetimes[-1]:.2f}s "
        f"(head timeout {HEAD_TIMEOUT}s); answers {kinds}; meanwhile the SDK did {sdk_ok} "
        f"create+wait, median {statistics.median(latencies) * 1000:.0f} ms, max "
        f"{max(latencies) * 1000:.0f} ms"
    )
    assert len(closed_at) == n
    assert set(answers) <= {b"HTTP/1.1 408 Request Timeout", b"reset"}
    assert sdk_ok > 0


async def test_oversized_head_answers_431_and_closes(base: str) -> None:
    host, port = _addr(base)
    cases = {
        "complete": b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        "never ends": b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000,
        "many headers": b"GET /ok HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: %s\r\n" % (i, b"b" * 100) for i in range(200))
        + b"\r\n",
    }
    for name, request in cases.items():
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        status, headers, body = await _response(reader)
        rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the server closed
        writer.close()
        print(f"\n{name}: {status} {body!r}, then closed")
        assert (status, headers["connection"], rest) == (431, "close", b"")
        assert body == b'{"detail":"Request header fields too large."}'
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /ok?q=" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, _ = await _response(reader)
    assert (status, await asyncio.wait_for(reader.read(), 5)) == (414, b"")
    writer.close()
    # Just under the limits: served.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 7000 + b"\r\nConnection: close\r\n\r\n"
    )
    status, _, body = await _response(reader)
    writer.close()
    assert (status, body) == (200, b'{"ok":true}')


async def test_keepalive_limits(base: str) -> None:
    host, port = _addr(base)
    reader, writer = await asyncio.open_connection(host, port)
    seen = []
    for _ in range(3):
        writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = await _response(reader)
        seen.append((status, headers.get("connection")))
    rest = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    print(f"\nkeep-alive budget: {seen}, then {rest!r}")
    assert seen == [(200, None), (200, None), (200, "close")]
    assert rest == b""
    # Idle: closed after the keep-alive timeout.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    await _response(reader)
    t0 = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), 10)
    idle = time.monotonic() - t0
    writer.close()
    print(f"idle keep-alive connection closed after {idle:.2f}s (setting {KEEPALIVE}s)")
    assert rest == b""
    # Not cut sooner by the head deadline (which would race a client reusing it).
    assert idle >= KEEPALIVE - 0.1, idle
    # A connection that sends nothing at all is closed at the head deadline.
    reader, writer = await asyncio.open_connection(host, port)
    t0 = time.monotonic()
    rest = await asyncio.wait_for(reader.read(), 10)
    silent = time.monotonic() - t0
    writer.close()
    print(f"silent connection closed after {silent:.2f}s (head timeout {HEAD_TIMEOUT}s)")
    assert rest == b""


async def test_connections_past_the_cap_get_503(base: str) -> None:
    host, port = _addr(base)
    conns = [await asyncio.open_connection(host, port) for _ in range(720)]
    refused = 0
    try:
        for reader, _ in conns[-40:]:
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                continue  # held open: within the cap
            refused += data.startswith(b"HTTP/1.1 503")
    finally:
        for _, writer in conns:
            writer.close()
    print(f"\n720 connections, cap 700: {refused} of the last 40 answered 503 and closed")
    assert refused >= 20
