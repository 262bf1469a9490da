"""Streaming figures through the official SDK against a server (not a test; prints numbers).

    uv run python bench/stream.py                 # starts its own server on a fresh database
    uv run python bench/stream.py --url URL       # or measures a running server

Figures, for ``client.runs.stream`` on a one-node graph (``single`` of tests/graphs),
sequential, each on a new thread:
* time to the first SSE byte (the response headers and the ``metadata`` event's start);
* time to the first ``values`` event;
* time to the end of the stream;
and the events per second one stream sustains: a node writes N ``custom`` events as fast as
it can (``burst``), measured from the first event to the last at the client.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from common import DURABILITIES, own_server, report
from langgraph_sdk import get_client


async def first_byte(
    http: httpx.AsyncClient, n: int, durability: str
) -> list[tuple[str, float, float]]:
    ttfb, first_values, total = [], [], []
    for _ in range(n):
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        body = {
            "assistant_id": "single",
            "input": {"label": "x"},
            "stream_mode": "values",
            "durability": durability,
        }
        t0 = time.perf_counter()
        async with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as res:
            got_byte = got_values = False
            async for chunk in res.aiter_bytes():
                if not got_byte:
                    ttfb.append(time.perf_counter() - t0)
                    got_byte = True
                if not got_values and b"event: values" in chunk:
                    first_values.append(time.perf_counter() - t0)
                    got_values = True
        total.append(time.perf_counter() - t0)
    return [
        report(f"first SSE byte [{durability}]", ttfb),
        report(f"first values event [{durability}]", first_values),
        report(f"whole stream (one node) [{durability}]", total),
    ]


async def throughput(url: str, count: int) -> float:
    client = get_client(url=url)
    tid = (await client.threads.create())["thread_id"]
    start = end = 0.0
    seen = 0
    async for part in client.runs.stream(
        tid, "burst", input={"count": count}, stream_mode="custom"
    ):
        if part.event == "custom":
            if seen == 0:
                start = time.perf_counter()
            seen += 1
            end = time.perf_counter()
    rate = (seen - 1) / (end - start) if end > start else float("nan")
    print(f"{'events/s, one stream (custom)':<40} n={seen:<5} {rate:10.0f} events/s", flush=True)
    if seen != count:
        print(f"  !! expected {count} events, got {seen}")
    return rate


async def measure(url: str, n: int, durability: str) -> list[tuple[str, float, float]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for _ in range(10):  # warm up
            tid = (await http.post("/threads", json={})).json()["thread_id"]
            await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "single"})
        return await first_byte(http, n, durability)


async def measure_all(url: str, n: int, burst: int) -> None:
    for durability in DURABILITIES:
        await measure(url, n, durability)
    for _ in range(3):
        await throughput(url, burst)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("-n", type=int, default=200)
    p.add_argument("--burst", type=int, default=20000)
    args = p.parse_args()
    if args.url:
        asyncio.run(measure_all(args.url, args.n, args.burst))
        return
    with own_server() as server:
        asyncio.run(measure_all(server.url, args.n, args.burst))


if __name__ == "__main__":
    main()
