"""Run latency figures through the official SDK against a server (not a test; prints numbers).

    uv run python bench/runs.py                 # starts its own server on a fresh database
    uv run python bench/runs.py --url URL       # or measures a running server

Figures: create on an idle thread, reject (409) on a busy thread, create -> join, sequential,
on the two-node graph ``steps`` of tests/graphs (p50/p99 in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from common import own_server, report
from langgraph_sdk import get_client


async def measure(url: str, n: int) -> None:
    client = get_client(url=url)
    create, reject, roundtrip = [], [], []
    for _ in range(n):
        tid = (await client.threads.create())["thread_id"]
        t0 = time.perf_counter()
        run = await client.runs.create(tid, "steps", input={"label": "x", "sleep": 0.05})
        create.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        try:
            await client.runs.create(
                tid, "steps", input={"label": "y"}, multitask_strategy="reject"
            )
        except httpx.HTTPStatusError:
            reject.append(time.perf_counter() - t0)
        await client.runs.join(tid, run["run_id"])
    for _ in range(n):
        tid = (await client.threads.create())["thread_id"]
        t0 = time.perf_counter()
        run = await client.runs.create(tid, "steps", input={"label": "z"})
        await client.runs.join(tid, run["run_id"])
        roundtrip.append(time.perf_counter() - t0)
    report("create (idle thread)", create)
    report("reject -> 409 (busy thread)", reject)
    report("create -> join (two-node graph)", roundtrip)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("-n", type=int, default=200)
    args = p.parse_args()
    if args.url:
        asyncio.run(measure(args.url, args.n))
        return
    with own_server() as url:
        asyncio.run(measure(url, args.n))


if __name__ == "__main__":
    main()
