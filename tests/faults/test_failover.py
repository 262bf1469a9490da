"""High availability on PostgreSQL's own mechanisms: a promotion mid-load (issue 14).

A private primary and a streaming replica (tests/cluster.py), one ``turnstile serve`` whose
``DATABASE_URL`` names both (``127.0.0.1:P1,127.0.0.1:P2`` with
``target_session_attrs=read-write``: asyncpg connects to whichever is the primary), and a
few SDK clients creating and waiting for runs. Mid-load the primary crashes
(``pg_ctl stop -m immediate``) and the replica is promoted (``pg_ctl promote``): Turnstile
must find the new primary by itself, and every run ends ``success`` exactly once.

The replica is made synchronous (``synchronous_standby_names``), so every commit a client
was told about is on it when the primary dies: what this test checks is Turnstile's part
(reconnecting, resuming), not PostgreSQL's asynchronous replication window, in which the
last acknowledged commits may be lost (see the README, "High availability").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client

from app.db import migrate
from tests.cluster import Cluster, private_cluster, replica
from tests.server import running_server

pytestmark = pytest.mark.timeout(300)

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
CLIENTS = 4
BEFORE = 12  # runs succeeded before the primary is stopped
AFTER = 12  # runs succeeded after the promotion, then the load stops
ENV = {
    "TURNSTILE_LEASE_SECONDS": "3",  # a run whose attempt was lost is re-queued quickly
    "TURNSTILE_STREAM_TTL_SECONDS": "600",
}


def ha_url(first: Cluster, second: Cluster, database: str) -> str:
    return (
        f"postgresql://postgres@127.0.0.1:{first.port},127.0.0.1:{second.port}/{database}"
        "?target_session_attrs=read-write"
    )


def _synchronous(primary: Cluster) -> None:
    primary.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
    primary.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while not primary.execute(
        "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'"
    ):
        if time.monotonic() > deadline:
            raise AssertionError("the replica never became synchronous")
        time.sleep(0.05)


class Load:
    """``CLIENTS`` SDK clients, each creating a run on a thread of its own and waiting for
    it, again and again. A create that failed (the database was down) is retried; its run
    may or may not exist, and is found in the table at the end like every other."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.created: dict[str, str] = {}  # run_id -> thread_id, as answered by creates
        self.succeeded: list[tuple[float, str]] = []  # (monotonic time, run_id)
        self.errors: list[str] = []
        self.wrong: list[str] = []  # joins that answered another output than the run's
        self.stop = asyncio.Event()

    async def client(self, n: int) -> None:
        sdk = get_client(url=self.url, timeout=httpx.Timeout(60.0))
        try:
            i = 0
            while not self.stop.is_set():
                i += 1
                label = f"c{n}-{i}"
                try:
                    tid = (await sdk.threads.create())["thread_id"]
                    run = await sdk.runs.create(tid, "steps", input={"label": label, "sleep": 0.02})
                    self.created[run["run_id"]] = tid
                    out = await sdk.runs.join(tid, run["run_id"])
                    if isinstance(out, dict) and out.get("log") == [label, f"done:{label}"]:
                        self.succeeded.append((time.monotonic(), run["run_id"]))
                    else:
                        self.wrong.append(f"{run['run_id']}: {out!r}"[:300])
                except (httpx.HTTPError, OSError) as exc:
                    self.errors.append(f"{label}: {type(exc).__name__}: {exc}"[:300])
                    await asyncio.sleep(0.2)  # the database is failing over: try again
        finally:
            await sdk.http.client.aclose()

    async def until(self, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.succeeded) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(self.succeeded)} of {count} runs succeeded in {within} s; "
                    f"last errors: {self.errors[-5:]}"
                )
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _db(url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        yield conn
    finally:
        await conn.close()


async def _settled(url: str, within: float) -> tuple[list[asyncpg.Record], int]:
    """The runs, and how many threads are busy, once no run is pending or running and no
    thread busy any more (or at the deadline)."""
    deadline = time.monotonic() + within
    while True:
        async with _db(url) as conn:
            rows = await conn.fetch("SELECT run_id, status, attempt FROM runs")
            busy = await conn.fetchval("SELECT count(*) FROM threads WHERE status = 'busy'")
        if all(r["status"] not in ("pending", "running") for r in rows) and busy == 0:
            return list(rows), busy
        if time.monotonic() > deadline:
            return list(rows), busy
        await asyncio.sleep(0.2)


async def test_promotion_mid_load_through_a_multi_host_url() -> None:
    with private_cluster() as primary:
        primary.create_database("turnstile")
        with replica(primary) as standby:
            _synchronous(primary)
            url = ha_url(primary, standby, "turnstile")
            await asyncio.to_thread(migrate.upgrade, url)  # Alembic, by the multi-host URL
            with running_server(url, config=GRAPHS, env=ENV) as base:
                load = Load(base)
                clients = [asyncio.ensure_future(load.client(n)) for n in range(CLIENTS)]
                try:
                    await load.until(BEFORE, 60)
                    stopped = time.monotonic()
                    await asyncio.to_thread(primary.stop, "immediate")
                    await asyncio.to_thread(standby.promote)
                    promoted = time.monotonic()
                    count = len(load.succeeded)
                    try:
                        await load.until(count + AFTER, 60)
                    except AssertionError:
                        await _report_unclaimed(standby.url("turnstile"))
                        raise
                    first = min(t for t, _ in load.succeeded if t > promoted)
                    print(
                        f"\nfailover: primary stopped and replica promoted in "
                        f"{promoted - stopped:.3f} s; first run succeeded {first - promoted:.3f} s "
                        f"after the promotion; {len(load.succeeded)} runs succeeded, "
                        f"{len(load.errors)} client errors during the failover"
                    )
                finally:
                    load.stop.set()
                    await asyncio.gather(*clients, return_exceptions=True)
                rows, busy = await _settled(standby.url("turnstile"), 60)
                failed = {str(r["run_id"]): r["status"] for r in rows if r["status"] != "success"}
                causes = await _errors(base, load, failed)
    by_id = {str(r["run_id"]): r for r in rows}
    missing = [rid for rid in load.created if rid not in by_id]
    assert not missing, f"runs the API created are gone: {missing}"
    still = {rid: r["status"] for rid, r in by_id.items() if r["status"] in ("pending", "running")}
    assert not still, f"runs never ended after the failover: {still}"
    assert busy == 0, f"{busy} threads left busy"
    attempts = sorted(r["attempt"] for r in rows)
    print(f"attempts per run: {attempts}; client errors: {load.errors[:5]}")
    # Each success was reported once per run (no run answered twice or for another run).
    ids = [rid for _, rid in load.succeeded]
    assert len(ids) == len(set(ids))
    assert {uuid.UUID(i) for i in ids} <= {r["run_id"] for r in rows}
    assert not causes, f"runs not ended success: {causes}"
    # A run finished from a state the database had lost would answer its input's state.
    assert not load.wrong, f"joins answered outputs the runs did not produce: {load.wrong}"


async def _report_unclaimed(url: str) -> None:
    """The load did not recover: say whether runs created on the new primary (so the API's
    pool did reconnect) stay ``pending``, unclaimed (the dispatch loop stopped)."""
    async with _db(url) as conn:
        stale = await conn.fetchval(
            "SELECT count(*) FROM runs WHERE status = 'pending' "
            "AND created_at < now() - interval '10 seconds'"
        )
    assert not stale, f"{stale} runs created after the failover were never claimed"


async def _errors(base: str, load: Load, failed: dict[str, str]) -> dict[str, str]:
    """The error name each failed run ended with (its join's ``__error__``)."""
    sdk = get_client(url=base)
    try:
        causes: dict[str, str] = {}
        for rid, status in failed.items():
            tid = load.created.get(rid)
            if tid is None or status != "error":
                causes[rid] = status
                continue
            out = await sdk.runs.join(tid, rid)
            error = out.get("__error__") if isinstance(out, dict) else None
            causes[rid] = str(error.get("error")) if isinstance(error, dict) else repr(out)
        return causes
    finally:
        await sdk.http.client.aclose()
