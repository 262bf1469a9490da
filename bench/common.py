"""What the bench scripts share: percentiles, the report line, a server of their own."""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pg import create_database, drop_database  # noqa: E402
from tests.server import running_server  # noqa: E402

GRAPHS = str(ROOT / "tests" / "graphs" / "langgraph.json")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{name:<34} n={len(ms):<5} p50={statistics.median(ms):7.2f} ms  p99={pct(ms, 0.99):7.2f} ms"
    )


@contextlib.contextmanager
def own_server() -> Iterator[str]:
    """A ``turnstile serve`` on a fresh, migrated database (dropped afterwards)."""
    database = create_database(ADMIN_URL, prefix="ts_bench")
    from app.db import migrate

    migrate.upgrade(database)
    try:
        with running_server(database, config=GRAPHS) as url:
            yield url
    finally:
        drop_database(ADMIN_URL, database)
