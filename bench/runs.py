"""Run latency figures through the official SDK against a server (not a test; prints numbers).

    uv run python bench/runs.py                 # starts its own server on a fresh database
    uv run python bench/runs.py --url URL       # or measures a running server

Figures: create on an idle thread, reject (409) on a busy thread, create -> join, sequential,
on the two-node graph ``steps`` of tests/graphs (p50/p99 in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from langgraph_sdk import get_client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import create_database, drop_database  # noqa: E402
from tests.server import running_server  # noqa: E402

GRAPHS = str(ROOT / "tests" / "graphs" / "langgraph.json")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{name:<34} n={len(ms):<5} p50={statistics.median(ms):7.2f} ms  p99={pct(ms, 0.99):7.2f} ms"
    )


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


@contextlib.contextmanager
def own_server() -> Iterator[str]:
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    template = create_database(admin, prefix="ts_bench")
    from app.db import migrate

    migrate.upgrade(template)
    try:
        with running_server(template, config=GRAPHS) as url:
            yield url
    finally:
        drop_database(admin, template)


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
