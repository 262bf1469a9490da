"""A long memory soak (not a test; prints numbers): runs with large states through the SDK,
the server's RSS and cache gauges sampled as it goes, then after an idle minute.

    uv run python bench/soak.py                    # 15 minutes, its own server and database
    uv run python bench/soak.py --minutes 60 --kib 500 --clients 32
    uv run python bench/soak.py --url URL --pid PID   # a running server (the graph ``big``
                                                   # of tests/soak/graphs must be served)

The short version, with an assertion, is tests/soak/test_memory.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator

from common import ADMIN_URL, ROOT
from langgraph_sdk import get_client

from tests.pg import create_database, drop_database
from tests.server import running_server
from tests.soak.test_memory import _cache_gauges, rss_mib

GRAPHS = str(ROOT / "tests" / "soak" / "graphs" / "langgraph.json")


@contextlib.contextmanager
def own_server() -> Iterator[tuple[str, int]]:
    database = create_database(ADMIN_URL, prefix="ts_soak")
    from app.db import migrate

    migrate.upgrade(database)
    pids: list[int] = []
    try:
        env = {"TURNSTILE_WORKERS": "16", "TURNSTILE_POOL_SIZE": "40"}
        with running_server(database, config=GRAPHS, env=env, pids=pids) as url:
            yield url, pids[0]
    finally:
        drop_database(ADMIN_URL, database)


async def soak(url: str, pid: int, minutes: float, kib: int, clients: int, idle: float) -> None:
    client = get_client(url=url, timeout=300)
    end = time.monotonic() + minutes * 60
    started = time.monotonic()
    done = 0
    print(f"{'s':>6} {'runs':>7} {'runs/s':>7} {'RSS MiB':>8}  caches", flush=True)

    async def one() -> None:
        nonlocal done
        while time.monotonic() < end:
            await client.runs.wait(
                None,
                "big",
                input={"label": f"r{done}", "kb": kib},
                on_completion="delete",
            )
            done += 1

    async def sample() -> None:
        while time.monotonic() < end:
            await asyncio.sleep(max(0.0, min(30.0, end - time.monotonic())))
            t = time.monotonic() - started
            gauges = await _cache_gauges(url)
            print(f"{t:6.0f} {done:7} {done / t:7.1f} {rss_mib(pid):8.0f}  {gauges}", flush=True)

    try:
        await asyncio.gather(sample(), *(one() for _ in range(clients)))
        await asyncio.sleep(idle)
        print(f"after {idle:.0f}s idle: RSS {rss_mib(pid):.0f} MiB; {await _cache_gauges(url)}")
    finally:
        await client.http.client.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url")
    p.add_argument("--pid", type=int)
    p.add_argument("--minutes", type=float, default=15)
    p.add_argument("--kib", type=int, default=200)
    p.add_argument("--clients", type=int, default=24)
    p.add_argument("--idle", type=float, default=60)
    args = p.parse_args()
    if args.url:
        asyncio.run(soak(args.url, args.pid, args.minutes, args.kib, args.clients, args.idle))
        return
    with own_server() as (url, pid):
        asyncio.run(soak(url, pid, args.minutes, args.kib, args.clients, args.idle))


if __name__ == "__main__":
    main()
