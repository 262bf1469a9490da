"""Throughput under load through the official SDK (not a test; prints numbers).

    uv run python bench/load.py                 # starts its own server on a fresh database
    uv run python bench/load.py --url URL --pid PID

``--clients`` concurrent clients (default 20) each call ``client.runs.wait`` in a loop on the
one-node graph ``single``, over ``--threads`` threads (default 200; a client takes the next
thread of its own share, so no two clients share a thread), for ``--seconds`` (default 10).
Prints completed runs per second, the error count (any exception, or a run whose output is
not the graph's), the latency of one ``runs.wait`` (p50/p99), and the server's peak RSS
sampled every 50 ms during the load.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field

from common import DURABILITIES, own_server, report, rss_mib, sampling_rss
from langgraph_sdk import get_client


@dataclass
class Load:
    completed: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""


async def one_client(url: str, threads: list[str], until: float, durability: str, load: Load):
    client = get_client(url=url)
    i = 0
    while time.perf_counter() < until:
        tid = threads[i % len(threads)]
        i += 1
        label = f"{tid[:8]}-{i}"
        t0 = time.perf_counter()
        try:
            out = await client.runs.wait(
                tid, "single", input={"label": label}, durability=durability
            )
            if not isinstance(out, dict) or out.get("log", [None])[-1] != label:
                raise AssertionError(f"unexpected output {out!r}")
        except Exception as exc:  # every failure counts as an error
            load.errors += 1
            load.first_error = load.first_error or repr(exc)[:300]
            continue
        load.latencies.append(time.perf_counter() - t0)
        load.completed += 1


async def measure(
    url: str, pid: int | None, *, clients: int, threads: int, seconds: float, durability: str
) -> dict[str, float]:
    client = get_client(url=url)
    ids = [
        t["thread_id"]
        for t in await asyncio.gather(*(client.threads.create() for _ in range(threads)))
    ]
    shares = [ids[c::clients] for c in range(clients)]
    warm = Load()
    await asyncio.gather(
        *(one_client(url, s, time.perf_counter() + 1, durability, warm) for s in shares)
    )
    load = Load()
    async with sampling_rss(pid) as rss:
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(*(one_client(url, s, until, durability, load) for s in shares))
        elapsed = time.perf_counter() - start
    rate = load.completed / elapsed
    print(
        f"{f'runs/s, {clients} clients runs.wait [{durability}]':<40} "
        f"n={load.completed:<5} {rate:7.1f} runs/s  errors={load.errors}",
        flush=True,
    )
    if load.first_error:
        print(f"  first error: {load.first_error}")
    report(f"runs.wait under load [{durability}]", load.latencies)
    if pid is not None:
        print(
            f"{f'server peak RSS under load [{durability}]':<40} {rss.peak:7.1f} MiB "
            f"(process peak so far {rss_mib(pid, 'VmHWM'):.1f} MiB)",
            flush=True,
        )
    return {"rate": rate, "errors": load.errors, "rss": rss.peak}


async def measure_all(url: str, pid: int | None, args: argparse.Namespace) -> None:
    for durability in DURABILITIES:
        await measure(
            url,
            pid,
            clients=args.clients,
            threads=args.threads,
            seconds=args.seconds,
            durability=durability,
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--pid", type=int, help="the server's pid, for its RSS (with --url)")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    if args.url:
        asyncio.run(measure_all(args.url, args.pid, args))
        return
    with own_server() as server:
        asyncio.run(measure_all(server.url, server.pid, args))


if __name__ == "__main__":
    main()
