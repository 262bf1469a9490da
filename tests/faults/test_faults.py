"""PostgreSQL faults under load: the server survives them and tells the truth (DESIGN I10).

For each topology (``serve`` with its in-process workers; ``serve --no-worker`` and one
``turnstile worker``), one private cluster (``tests/cluster.py``), migrated, with Turnstile
started against it, takes the four faults in turn, each under a steady load of 10 official
SDK clients (``load.py``: ``runs.wait``, ``runs.stream``, ``runs.create`` + ``runs.join`` on a
4-node graph): ``pg_ctl restart -m fast``, ``restart -m immediate``, stopped for 20 s then
started, and ``pg_terminate_backend`` of every backend. Default lease (30 s): a run must
survive the fault within its attempt.

After each fault: every run the load created ends ``success`` (the clients may retry on
503 and connection errors; the retries are counted and printed), no thread is left
``busy``, no committed node ran twice, a run created after recovery starts at once (not
after a polling fallback), and ``/ok`` answered 503 during the outage and 200 after. The
recovery times (database back -> ``/ok`` 200, -> first run succeeding) are printed.

"No committed node ran twice" is checked against a ledger kept outside the faulted cluster
(a JSON-lines file, ``graphs/ledger.py``): every execution of a node records when it
started. A node is committed once the first checkpoint whose state lists it in ``done`` is
(its ``ts``, the history's ``created_at``); no execution of that node may start after that
``ts``. The runs use ``durability="sync"``, so each checkpoint is committed before the next
node starts: an execution that started after the ``ts`` started after the commit, and the
check is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.errors import NotFoundError

from app.db import migrate
from tests.cluster import Cluster, private_cluster
from tests.faults.load import Load
from tests.server import running_server, running_worker

GRAPHS = str(Path(__file__).resolve().parent / "graphs" / "langgraph.json")
OUTAGE_SECONDS = 20.0
FAULTS = ("restart-fast", "restart-immediate", "stop-20s", "terminate-backends")
OUTAGES = frozenset({"restart-fast", "restart-immediate", "stop-20s"})
"""Faults during which the database is unreachable. ``pg_terminate_backend`` leaves it up:
the LISTEN connection is back within milliseconds, so ``/ok`` may never answer 503."""

pytestmark = pytest.mark.timeout(150)


@dataclass
class System:
    cluster: Cluster
    url: str
    ledger: Path
    topology: str


@pytest.fixture(scope="module", params=["serve", "split"])
def system(request: pytest.FixtureRequest) -> Iterator[System]:
    """A private cluster, migrated, and Turnstile on it (shared by the four fault tests)."""
    with private_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        migrate.upgrade(cluster.url())
        ledger = Path(tmp) / "ledger.jsonl"
        ledger.touch()
        env = {"TURNSTILE_FAULTS_LEDGER": str(ledger), "TURNSTILE_STREAM_TTL_SECONDS": "600"}
        with contextlib.ExitStack() as stack:
            if request.param == "serve":
                url = stack.enter_context(running_server(cluster.url(), config=GRAPHS, env=env))
            else:
                url = stack.enter_context(
                    running_server(
                        cluster.url(), config=GRAPHS, env=env, extra_args=("--no-worker",)
                    )
                )
                stack.enter_context(running_worker(cluster.url(), config=GRAPHS, env=env))
            yield System(cluster, url, ledger, request.param)


@dataclass
class OkMonitor:
    """``/ok`` polled every 20 ms: (wall time, status) of each answer."""

    url: str
    seen: list[tuple[float, int]] = field(default_factory=list)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while True:
                try:
                    status = (await http.get("/ok")).status_code
                except httpx.HTTPError:
                    status = 0
                self.seen.append((time.time(), status))
                await asyncio.sleep(0.02)

    def first_200_after_last_503(self) -> float | None:
        last_503 = max((t for t, s in self.seen if s == 503), default=None)
        if last_503 is None:
            return None
        return min((t for t, s in self.seen if s == 200 and t > last_503), default=None)


@contextlib.asynccontextmanager
async def monitoring(url: str) -> AsyncIterator[OkMonitor]:
    monitor = OkMonitor(url)
    task = asyncio.create_task(monitor.run())
    try:
        yield monitor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def while_down(url: str) -> None:
    """What the server answers while the database is stopped: ``/ok`` (with ``check_db``)
    503, ``/metrics`` 200 with ``database_up`` 0, a write 503 with ``Retry-After``."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        deadline = time.monotonic() + 10
        while (await http.get("/ok")).status_code != 503:  # the LISTEN loss is seen
            assert time.monotonic() < deadline, "/ok still 200 with the database stopped"
            await asyncio.sleep(0.02)
        ok = await http.get("/ok", params={"check_db": "1"})
        assert ok.status_code == 503
        assert ok.json()["ok"] is False
        assert ok.json()["services"]["postgres"] != "ok"
        print(f"  /ok?check_db=1 while down: {ok.json()}"[:300])
        metrics = await http.get("/metrics", params={"format": "json"})
        assert metrics.status_code == 200
        assert metrics.json()["health"]["database_up"] == 0
        assert metrics.json()["queue"] is None
        print(f"  /metrics while down: {metrics.json()}"[:400])
        text = await http.get("/metrics")
        assert text.status_code == 200
        assert "turnstile_database_up 0" in text.text
        write = await http.post("/threads", json={})
        assert write.status_code == 503
        assert write.headers["retry-after"].isdigit()
        assert set(write.json()) == {"detail"}


async def inject(cluster: Cluster, fault: str, url: str) -> tuple[float, float]:
    """Cause ``fault``; (wall time it began, wall time the database was back)."""
    began = time.time()
    if fault == "restart-fast":
        await asyncio.to_thread(cluster.restart, "fast")
    elif fault == "restart-immediate":
        await asyncio.to_thread(cluster.restart, "immediate")
    elif fault == "stop-20s":
        await asyncio.to_thread(cluster.stop, "fast")
        await while_down(url)
        await asyncio.sleep(OUTAGE_SECONDS - (time.time() - began))  # the outage itself
        await asyncio.to_thread(cluster.start)
    else:
        n = await asyncio.to_thread(cluster.terminate_backends)
        print(f"  terminated {n} backends")
    return began, time.time()


async def connect(cluster: Cluster) -> asyncpg.Connection[Any]:
    return await asyncpg.connect(cluster.url(), timeout=10)


async def settled(cluster: Cluster, threads: list[str], within: float = 60.0) -> None:
    """Wait until none of ``threads``' runs is active any more."""
    deadline = time.monotonic() + within
    while True:
        conn = await connect(cluster)
        try:
            active = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE thread_id = ANY($1::uuid[]) "
                "AND status IN ('pending', 'running', 'queued')",
                threads,
            )
        finally:
            await conn.close()
        if active == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{active} runs still active {within}s after the load stopped")
        await asyncio.sleep(0.1)


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


async def reruns_of_committed_nodes(system: System, threads: list[str]) -> list[str]:
    """Executions (from the ledger) that started after their node was committed."""
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for line in system.ledger.read_text().splitlines():
        entry = json.loads(line)
        by_thread.setdefault(entry["thread"], []).append(entry)
    client = get_client(url=system.url)
    bad: list[str] = []
    try:
        for tid in threads:
            try:
                history = await client.threads.get_history(tid, limit=100)
            except NotFoundError:  # its create failed (the load reports that)
                continue
            committed: dict[str, float] = {}
            for state in history:
                ts = _epoch(state["created_at"])
                for node in (state["values"] or {}).get("done", []):
                    committed[node] = min(committed.get(node, ts), ts)
            for entry in by_thread.get(tid, []):
                at = committed.get(entry["node"])
                if at is not None and entry["at"] > at:
                    bad.append(
                        f"thread {tid}: {entry['node']} ran again (attempt {entry['attempt']}, "
                        f"pid {entry['pid']}) {entry['at'] - at:.3f}s after its checkpoint"
                    )
    finally:
        await client.http.client.aclose()
    return bad


async def probe_start_delays(system: System, n: int = 5) -> list[float]:
    """Create ``n`` runs one after another on an idle system; each one's
    ``started_at - created_at`` (seconds), from the rows."""
    client = get_client(url=system.url)
    delays = []
    try:
        for _ in range(n):
            thread = await client.threads.create()
            run = await client.runs.create(thread["thread_id"], "chain", input={"sleep": 0})
            await client.runs.join(thread["thread_id"], run["run_id"])
            conn = await connect(system.cluster)
            try:
                row = await conn.fetchrow(
                    "SELECT status, created_at, started_at FROM runs WHERE run_id = $1::uuid",
                    run["run_id"],
                )
            finally:
                await conn.close()
            assert row is not None
            assert row["status"] == "success", row
            delays.append((row["started_at"] - row["created_at"]).total_seconds())
    finally:
        await client.http.client.aclose()
    return delays


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_under_load(system: System, fault: str) -> None:
    cluster = system.cluster
    print(f"\n[{system.topology} / {fault}]")
    client = get_client(url=system.url)
    load = Load(client)
    try:
        async with monitoring(system.url) as ok:
            load.start()
            await load.successes_after(0.0, 10)  # a steady load first
            began, back = await inject(cluster, fault, system.url)
            first_success = await load.successes_after(back, 1, within=60)
            await load.successes_after(back, 20, within=60)
            await load.stop()
            ok_back = ok.first_200_after_last_503()
            during = [s for t, s in ok.seen if began <= t <= (ok_back or back)]
            after = [s for t, s in ok.seen if t > (ok_back or back)]
    finally:
        await client.http.client.aclose()
    threads = list(load.threads)
    await settled(cluster, threads)

    conn = await connect(cluster)
    try:
        runs = await conn.fetch(
            "SELECT run_id, thread_id, status, attempt, output FROM runs "
            "WHERE thread_id = ANY($1::uuid[])",
            threads,
        )
        busy = await conn.fetchval("SELECT count(*) FROM threads WHERE status = 'busy'")
    finally:
        await conn.close()
    statuses: dict[str, int] = {}
    for r in runs:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    reruns = await reruns_of_committed_nodes(system, threads)
    delays = await probe_start_delays(system)

    print(f"  runs: {len(runs)} {statuses}; attempts > 1: {sum(r['attempt'] > 1 for r in runs)}")
    print(f"  client retries: {dict(load.retries)}")
    print(f"  /ok during the fault: 503 x{during.count(503)}, 200 x{during.count(200)}")
    if ok_back is not None:
        print(f"  recovery: database back -> /ok 200: {max(ok_back - back, 0.0):.3f}s")
    print(f"  recovery: database back -> first run succeeding: {first_success - back:.3f}s")
    print(f"  fault lasted {back - began:.3f}s")
    print(f"  start delay of runs created after recovery: {[round(d, 4) for d in delays]}")

    failed = {str(r["thread_id"]): r["output"] for r in runs if r["status"] != "success"}
    for tid, output in failed.items():
        print(f"  run on thread {tid} ended {output!r}"[:300])
    for tid, problem in load.problems:
        print(f"  problem on thread {tid}: {problem}"[:300])
    for rerun in reruns:
        print(f"  {rerun}")
    assert busy == 0
    assert after, "/ok did not answer after recovery"
    assert set(after) == {200}, f"/ok after recovery: {sorted(set(after))}"
    if fault in OUTAGES:
        assert 503 in during, "/ok never answered 503 while the database was down"
    # Woken at once, not found by the 2 s polling fallback.
    assert statistics.median(delays) < 0.1, delays
    async with httpx.AsyncClient(base_url=system.url, timeout=10) as http:
        health = (await http.get("/metrics", params={"format": "json"})).json()["health"]
        assert health["database_up"] == 1
    assert load.problems == []
    assert failed == {}
    assert reruns == []
