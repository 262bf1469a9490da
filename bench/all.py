"""The whole bench suite on one server: ``uv run python bench/all.py`` (not a test; prints).

Starts ``turnstile serve`` on a fresh database (``--worker-processes N`` passed on; or
measures ``--url URL``, with ``--pid PID`` for its memory, children included) and prints, for ``durability="async"`` (the default) and ``"sync"``:
create, reject and create -> join latency (bench/runs.py), time to the first SSE byte and
the first ``values`` event (bench/stream.py), completed runs per second with 20 concurrent
``runs.wait`` clients, their error count and the server's peak RSS under that load
(bench/load.py); then events per second through one stream. A summary table follows.
"""

from __future__ import annotations

import argparse
import asyncio
import platform

import load
import runs
import stream
from common import DURABILITIES, own_server


async def suite(url: str, pid: int | None, args: argparse.Namespace) -> None:
    rows: list[tuple[str, str, str]] = []
    for durability in DURABILITIES:
        for name, p50, p99 in await runs.measure(url, args.n, durability):
            rows.append((name, f"{p50:.2f} ms", f"{p99:.2f} ms"))
        for name, p50, p99 in await stream.measure(url, args.n, durability):
            rows.append((name, f"{p50:.2f} ms", f"{p99:.2f} ms"))
        got = await load.measure(
            url,
            pid,
            clients=args.clients,
            threads=args.threads,
            seconds=args.seconds,
            durability=durability,
        )
        rows.append(
            (
                f"runs/s, {args.clients} clients [{durability}]",
                f"{got['rate']:.0f} runs/s",
                f"{got['errors']:.0f} errors",
            )
        )
        if pid is not None:
            rows.append((f"server peak RSS under load [{durability}]", f"{got['rss']:.0f} MiB", ""))
    rate = await stream.throughput(url, args.burst)
    rows.append(("events/s, one stream (custom)", f"{rate:.0f}", ""))
    print(f"\n{platform.node()}, {args.n} samples per latency figure\n")
    print("| Figure | p50 (or value) | p99 |")
    print("|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a} | {b} |")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--pid", type=int, help="the server's pid, for its RSS (with --url)")
    p.add_argument("-n", type=int, default=200, help="samples per latency figure")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--burst", type=int, default=20000)
    p.add_argument(
        "--worker-processes",
        type=int,
        default=None,
        help="serve --worker-processes for the server this starts (default: serve's own)",
    )
    args = p.parse_args()
    if args.url:
        asyncio.run(suite(args.url, args.pid, args))
        return
    env = {}
    if args.worker_processes is not None:
        env["TURNSTILE_WORKER_PROCESSES"] = str(args.worker_processes)
    with own_server(env) as server:
        asyncio.run(suite(server.url, server.pid, args))


if __name__ == "__main__":
    main()
