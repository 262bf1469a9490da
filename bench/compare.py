"""Turnstile against the official server, figure by figure, measured at the same time.

    uv run python bench/compare.py                      # about 5 minutes
    uv run python bench/compare.py --samples 100 --seconds 15 --clients 20

Starts both servers on tests/graphs/langgraph.json, on loopback:
* the official dev server: ``langgraph dev`` from ``langgraph-cli[inmem]`` and
  ``langgraph-api`` (PyPI), installed once into the venv bench/differential.py caches under
  ``~/.cache/turnstile-ref`` (in-memory runtime, no PostgreSQL), ``--n-jobs-per-worker``
  ``--reference-jobs`` (default 10, Turnstile's ``--workers``; ``langgraph dev`` alone runs 1);
* ``turnstile serve`` (bench/common.py ``own_server``) on a fresh database on the machine's
  PostgreSQL (127.0.0.1:5432), a fresh interpreter (not the tests' zygote).
It is bench/differential.py's reference venv, but not its ``reference_server``: that one
serves only ``steps`` and ``ask`` and runs one job at a time. Both servers get
``TURNSTILE_DEMO_TOKEN_DELAY=0``, so the demo model streams without pauses.

The client is the official Python SDK (``get_client``), in this process. Every latency
figure takes ``--samples`` samples alternately, one on Turnstile, one on the reference,
A B A B ..., each on a new thread, so the drift of this 2-core machine shared with other work
hits both alike. The default is 50: the reference picks runs up by polling (a 0.5 s sleep, and
a run created during it waits for the next poll), so each sequential run there takes 0.5-1 s
(back-to-back samples land near 1 s) and 4 x 50 of them already take over 3 minutes.
Figures (p50 and p99; with 100 samples or fewer the p99 is the slowest sample):
* create: ``runs.create`` on an idle thread (graph ``steps``, 50 ms sleep);
* reject: ``runs.create(multitask_strategy="reject")`` on that busy thread, the 409;
* create -> join: ``runs.create`` then ``runs.join``, one-node graph ``single``;
* first SSE byte and first values: ``POST /threads/{id}/runs/stream`` (``single``,
  ``stream_mode="values"``) through the SDK's httpx client, to the body's first byte and to
  the first ``values`` event (as bench/stream.py);
* first token: the demo agent (``agent``, app/graphs/demo.py) asked about the weather,
  ``runs.stream(stream_mode="messages-tuple")`` to the first ``messages`` event (the model's
  first chunk: the start of its tool call).
Then the load: ``--clients`` clients (default 20) call ``runs.wait`` on ``single`` in a loop
(bench/load.py's client, 200 threads per server), ``--seconds`` (default 10) per round,
``--rounds`` rounds (default 2) alternately on Turnstile and the reference. Printed:
completed runs/s and errors, the ``runs.wait`` latency under load, the peak RSS of each
server's process tree (sampled every 50 ms), and CPU milliseconds per completed run: the
server's process tree plus, for Turnstile, the PostgreSQL backends connected to its database
(``pg_stat_activity`` pids), from /proc utime+stime before and after each round. PostgreSQL's
background processes (WAL writer, checkpointer) and the client's CPU are not counted.

Each figure prints for both servers with the ratio Turnstile / reference (below 1: Turnstile
takes less; for runs/s above 1: Turnstile completes more), and again as a markdown table.
Nothing asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TURNSTILE_TEST_ZYGOTE", "0")  # a real `turnstile serve` interpreter

import asyncpg
import differential
import httpx
import load
from common import ADMIN_URL, GRAPHS, ROOT, Server, _tree, own_server, pct, sampling_rss
from langgraph_sdk import get_client

ENV = {"TURNSTILE_DEMO_TOKEN_DELAY": "0"}
QUESTION = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}
TICK = os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def reference(jobs: int) -> Iterator[Server]:
    """``langgraph dev`` (the cached venv of bench/differential.py) serving tests/graphs."""
    pids: list[int] = []
    with differential.reference_server(
        Path(GRAPHS),
        "--n-jobs-per-worker",
        str(jobs),
        env={**ENV, "PYTHONPATH": str(ROOT)},  # the demo graph is app.graphs.demo
        log_name="compare-server.log",
        pids=pids,
    ) as url:
        yield Server(url, pids[0])


@dataclass
class Side:
    name: str
    server: Server
    client: Any = None
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    misses: int = 0  # a reject that did not answer 409
    completed: int = 0
    errors: int = 0
    first_error: str = ""
    elapsed: float = 0.0
    cpu_server: float = 0.0
    cpu_pg: float = 0.0
    rss_peak: float = 0.0
    threads: list[str] = field(default_factory=list)

    async def thread(self) -> str:
        return str((await self.client.threads.create())["thread_id"])


# -- latency samples: each one on a new thread ------------------------------------------- #


async def create_reject(side: Side) -> None:
    tid = await side.thread()
    t0 = time.perf_counter()
    run = await side.client.runs.create(tid, "steps", input={"label": "x", "sleep": 0.05})
    side.samples["create"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    try:
        await side.client.runs.create(
            tid, "single", input={"label": "y"}, multitask_strategy="reject"
        )
        side.misses += 1
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 409:
            raise
        side.samples["reject"].append(time.perf_counter() - t0)
    await side.client.runs.join(tid, run["run_id"])


async def create_join(side: Side) -> None:
    tid = await side.thread()
    t0 = time.perf_counter()
    run = await side.client.runs.create(tid, "single", input={"label": "z"})
    await side.client.runs.join(tid, run["run_id"])
    side.samples["create_join"].append(time.perf_counter() - t0)


async def first_values(side: Side) -> None:
    """One ``runs.stream(stream_mode="values")`` through the SDK's own httpx client (its base
    URL and headers), for the first byte and the first ``values`` event (as bench/stream.py)."""
    tid = await side.thread()
    body = {"assistant_id": "single", "input": {"label": "v"}, "stream_mode": "values"}
    got_byte = got_values = False
    t0 = time.perf_counter()
    async with side.client.http.client.stream(
        "POST", f"/threads/{tid}/runs/stream", json=body
    ) as res:
        res.raise_for_status()
        async for chunk in res.aiter_bytes():
            if not got_byte:
                side.samples["first_byte"].append(time.perf_counter() - t0)
                got_byte = True
            if not got_values and b"event: values" in chunk:
                side.samples["first_values"].append(time.perf_counter() - t0)
                got_values = True


async def first_token(side: Side) -> None:
    """The demo agent through ``runs.stream``, to its first ``messages`` event."""
    tid = await side.thread()
    got = False
    t0 = time.perf_counter()
    async for part in side.client.runs.stream(
        tid, "agent", input=QUESTION, stream_mode="messages-tuple"
    ):
        if not got and part.event == "messages":
            side.samples["first_token"].append(time.perf_counter() - t0)
            got = True


# -- the load phase ------------------------------------------------------------------------ #


def cpu(pids: list[int]) -> dict[int, float]:
    """utime + stime of each of ``pids`` still alive, in seconds."""
    out = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two ``cpu`` readings: a process that started in between counts
    from zero; one that ended in between is lost (the pools and workers here do not churn)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


async def backends(database: str | None) -> list[int]:
    """The pids of the PostgreSQL backends connected to ``database`` (a URL)."""
    if database is None:
        return []
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        name = database.rsplit("/", 1)[1].split("?")[0]
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


async def load_round(side: Side, clients: int, seconds: float) -> None:
    shares = [side.threads[c::clients] for c in range(clients)]
    got = load.Load()
    database, pid = side.server.database, side.server.pid
    pg, procs = cpu(await backends(database)), cpu(_tree(pid))
    async with sampling_rss(pid) as rss:
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(
            *(load.one_client(side.server.url, s, until, "async", got) for s in shares)
        )
        side.elapsed += time.perf_counter() - start
        side.cpu_pg += spent(pg, cpu(await backends(database)))
        side.cpu_server += spent(procs, cpu(_tree(pid)))
    side.rss_peak = max(side.rss_peak, rss.peak)
    side.completed += got.completed
    side.errors += got.errors
    side.first_error = side.first_error or got.first_error
    side.samples["under_load"] += got.latencies


# -- the comparison ------------------------------------------------------------------------- #

LATENCIES = (  # sample key, figure
    ("create", "create (idle thread)"),
    ("reject", "reject -> 409 (busy thread)"),
    ("create_join", "create -> join (one node)"),
    ("first_byte", "first SSE byte"),
    ("first_values", "first values event"),
    ("first_token", "first token (demo agent)"),
)


async def compare(sides: list[Side], args: argparse.Namespace) -> list[tuple[str, float, float]]:
    for side in sides:  # warm up: connections, graph compilation, statement caches
        side.client = get_client(url=side.server.url)
        for _ in range(10):
            await side.client.runs.wait(await side.thread(), "single", input={"label": "w"})
        for sample in (create_reject, first_values, first_token):
            await sample(side)
        side.samples.clear()
        side.misses = 0
    for sample in (create_reject, create_join, first_values, first_token):
        for _ in range(args.samples):
            for side in sides:  # A B A B ...
                await sample(side)
    for side in sides:
        side.threads = [
            t["thread_id"]
            for t in await asyncio.gather(*(side.client.threads.create() for _ in range(200)))
        ]
        warm = load.Load()
        until = time.perf_counter() + 1
        shares = [side.threads[c :: args.clients] for c in range(args.clients)]
        await asyncio.gather(
            *(load.one_client(side.server.url, s, until, "async", warm) for s in shares)
        )
    for _ in range(args.rounds):
        for side in sides:
            await load_round(side, args.clients, args.seconds)
            print(f"  load round on {side.name}: {side.completed} runs so far", flush=True)

    rows: list[tuple[str, float, float]] = []
    for key, name in LATENCIES:
        ms = [[s * 1000 for s in side.samples[key]] or [float("nan")] for side in sides]
        rows.append((f"{name} p50 (ms)", *(statistics.median(m) for m in ms)))
        rows.append((f"{name} p99 (ms)", *(pct(m, 0.99) for m in ms)))
    rows.append(
        (f"runs/s, {args.clients} clients runs.wait", *(s.completed / s.elapsed for s in sides))
    )
    ms = [[x * 1000 for x in side.samples["under_load"]] or [float("nan")] for side in sides]
    rows.append(("runs.wait under load p50 (ms)", *(statistics.median(m) for m in ms)))
    rows.append(("runs.wait under load p99 (ms)", *(pct(m, 0.99) for m in ms)))
    rows.append(("peak RSS under load (MiB)", *(s.rss_peak for s in sides)))
    for name, part in (
        ("server processes", lambda s: s.cpu_server),
        ("PostgreSQL backends", lambda s: s.cpu_pg),
        ("server + PostgreSQL", lambda s: s.cpu_server + s.cpu_pg),
    ):
        rows.append((f"CPU ms/run: {name}", *(part(s) * 1000 / max(s.completed, 1) for s in sides)))
    for side in sides:
        if side.misses or side.errors:
            print(f"  {side.name}: {side.misses} rejects not 409, {side.errors} load errors")
        if side.first_error:
            print(f"  {side.name} first load error: {side.first_error}")
    return rows


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.3g}" if theirs else "-"


def versions() -> str:
    python = differential.reference_venv() / "bin" / "python"
    ref = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('langgraph-api'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run([*git, "status", "--porcelain", "app"], capture_output=True, text=True)
    ours = head.stdout.strip() + (" + uncommitted app/ changes" if dirty.stdout.strip() else "")
    return f"Turnstile {ours} vs langgraph-api {ref} (langgraph dev)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=50, help="per latency figure and server")
    p.add_argument("--seconds", type=float, default=10.0, help="per load round and server")
    p.add_argument("--rounds", type=int, default=2, help="load rounds per server")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--reference-jobs", type=int, default=10, help="its --n-jobs-per-worker")
    args = p.parse_args()
    with reference(args.reference_jobs) as ref, own_server(env=ENV) as ours:
        sides = [Side("turnstile", ours), Side("reference", ref)]
        rows = asyncio.run(compare(sides, args))
    print()
    for name, a, b in rows:
        print(f"{name:<40} turnstile {a:9.2f}  reference {b:9.2f}  ratio {ratio(a, b)}")
    print(
        f"\n{versions()}; {platform.node()}, {os.cpu_count()} cores, {args.samples} samples "
        f"per latency figure, {args.rounds} x {args.seconds:g} s of load per server\n"
    )
    print("| Figure | Turnstile | reference | Turnstile / reference |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {ratio(a, b)} |")


if __name__ == "__main__":
    main()
