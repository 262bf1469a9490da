"""Run latency figures through the official SDK against a server (not a test; prints numbers).

    uv run python bench/runs.py                 # starts its own server on a fresh database
    uv run python bench/runs.py --url URL       # or measures a running server

Figures, on the one-node graph ``single`` of tests/graphs, sequential, each on a new thread
(p50/p99 in ms): create on an idle thread; reject (409) on a busy thread; create -> join.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from common import DURABILITIES, own_server, report
from langgraph_sdk import get_client


async def measure(url: str, n: int, durability: str) -> list[tuple[str, float, float]]:
    client = get_client(url=url)
    create, reject, roundtrip = [], [], []
    for _ in range(10):  # warm up: connections, graph compilation, statement caches
        tid = (await client.threads.create())["thread_id"]
        await client.runs.wait(tid, "single", input={"label": "w"})
    for _ in range(n):
        tid = (await client.threads.create())["thread_id"]
        t0 = time.perf_counter()
        run = await client.runs.create(
            tid, "steps", input={"label": "x", "sleep": 0.05}, durability=durability
        )
        create.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        try:
            await client.runs.create(
                tid,
                "single",
                input={"label": "y"},
                multitask_strategy="reject",
                durability=durability,
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:
                raise
            reject.append(time.perf_counter() - t0)
        await client.runs.join(tid, run["run_id"])
    for _ in range(n):
        tid = (await client.threads.create())["thread_id"]
        t0 = time.perf_counter()
        run = await client.runs.create(tid, "single", input={"label": "z"}, durability=durability)
        await client.runs.join(tid, run["run_id"])
        roundtrip.append(time.perf_counter() - t0)
    return [
        report(f"create (idle thread) [{durability}]", create),
        report(f"reject -> 409 (busy thread) [{durability}]", reject),
        report(f"create -> join (one node) [{durability}]", roundtrip),
    ]


async def measure_all(url: str, n: int) -> None:
    for durability in DURABILITIES:
        await measure(url, n, durability)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("-n", type=int, default=200)
    args = p.parse_args()
    if args.url:
        asyncio.run(measure_all(args.url, args.n))
        return
    with own_server() as server:
        asyncio.run(measure_all(server.url, args.n))


if __name__ == "__main__":
    main()
