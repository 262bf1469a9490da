"""What the bench scripts share: percentiles, the report line, a server of their own, RSS."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import create_database, drop_database  # noqa: E402
from tests.server import running_server  # noqa: E402

GRAPHS = str(ROOT / "tests" / "graphs" / "langgraph.json")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DURABILITIES = ("async", "sync")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples: list[float]) -> tuple[str, float, float]:
    """Print one latency line (samples in seconds) and return (name, p50 ms, p99 ms)."""
    ms = [s * 1000 for s in samples] or [float("nan")]
    p50, p99 = statistics.median(ms), pct(ms, 0.99)
    print(f"{name:<40} n={len(samples):<5} p50={p50:7.2f} ms  p99={p99:7.2f} ms", flush=True)
    return name, p50, p99


@dataclass
class Server:
    url: str
    pid: int | None = None
    database: str | None = None


@contextlib.contextmanager
def own_server(env: dict[str, str] | None = None, config: str = GRAPHS) -> Iterator[Server]:
    """A ``turnstile serve`` on a fresh, migrated database (dropped afterwards), serving
    ``config`` (tests/graphs by default)."""
    database = create_database(ADMIN_URL, prefix="ts_bench")
    from app.db import migrate

    migrate.upgrade(database)
    pids: list[int] = []
    try:
        with running_server(database, config=config, env=env, pids=pids) as url:
            yield Server(url, pids[0], database)
    finally:
        drop_database(ADMIN_URL, database)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``serve --worker-processes`` starts workers)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            out += _tree(int(child))
    return out


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    """The resident set (``VmRSS``) or peak so far (``VmHWM``) of a process and its
    children, summed, in MiB."""
    total = 0
    for member in _tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        total += next((int(x.split()[1]) for x in lines if x.startswith(key + ":")), 0)
    return total / 1024


@dataclass
class RssPeak:
    """The highest RSS seen while sampling every 50 ms."""

    peak: float = 0.0
    samples: list[float] = field(default_factory=list)


@contextlib.asynccontextmanager
async def sampling_rss(pid: int | None) -> AsyncIterator[RssPeak]:
    result = RssPeak()
    if pid is None:
        yield result
        return

    async def sample() -> None:
        while True:
            value = rss_mib(pid)
            result.samples.append(value)
            result.peak = max(result.peak, value)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(sample())
    try:
        yield result
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        result.peak = max(result.peak, rss_mib(pid))
