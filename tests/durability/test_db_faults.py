"""The database's own faults under a running run: retry the attempt, not the work.

Each test starts a private PostgreSQL cluster (tests/cluster.py, never the machine's
server) and a real ``turnstile serve`` process (workers in its loop) on it, starts runs of
the ``ledger`` graph (graphs/ledger.py: n1..n4, every execution appended to a file, so the
record survives whatever happens to PostgreSQL), faults the database in the middle of the
runs, and then checks: each run ended ``success`` on attempt 1; every node ran exactly once
(none that committed ran again); the SDK stream saw one ``metadata`` event, no ``error``
event and the final values; ``runs.wait`` returned the output. The last test spends the
retry budget (``TURNSTILE_DB_RETRY_SECONDS``) and checks that the run then ends ``error``
with a message that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.db import migrate
from tests.cluster import Cluster, private_cluster
from tests.server import ROOT, running_server

GRAPHS = str(Path(__file__).resolve().parent / "graphs" / "langgraph.json")
NODES = ["n1", "n2", "n3", "n4"]
DB = "turnstile"
BASE_ENV = {
    "TURNSTILE_STREAM_TTL_SECONDS": "600",
    "TURNSTILE_LEASE_SECONDS": "30",
    "TURNSTILE_SHUTDOWN_GRACE_SECONDS": "1",  # a quick teardown: no test here is about it
}

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as c:
        c.create_database(DB)
        yield c


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.txt"
    path.touch(mode=0o666)
    return path


@contextlib.asynccontextmanager
async def serving(cluster: Cluster, **env: str) -> AsyncIterator[tuple[LangGraphClient, Path]]:
    """``turnstile serve`` (in-process workers) on the cluster's database; an SDK client of
    it, and its log file."""
    cm = running_server(cluster.url(DB), config=GRAPHS, env={**BASE_ENV, **env}, migrate=True)
    url = await asyncio.to_thread(cm.__enter__)
    client = get_client(url=url)
    try:
        port = url.rsplit(":", 1)[1]
        yield client, ROOT / ".pytest_cache" / "servers" / f"server-{port}.log"
    finally:
        await client.http.client.aclose()
        await asyncio.to_thread(cm.__exit__, None, None, None)


def executions(ledger: Path, tid: str) -> list[tuple[str, int]]:
    """(node, attempt) of each recorded execution of thread ``tid``'s nodes, in order."""
    rows = [line.split() for line in ledger.read_text().splitlines()]
    return [(node, int(attempt)) for thread, node, attempt, _ in rows if thread == tid]


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], what: str, within: float = 60.0
) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


class Runs:
    """Two runs on two threads, started together: one followed by ``runs.stream`` (its
    events collected), one by ``runs.wait`` (its result kept)."""

    def __init__(
        self,
        client: LangGraphClient,
        ledger: Path,
        sleep: float,
        durability: str = "async",
        **extra: Any,
    ) -> None:
        self.client = client
        self.durability = durability
        self.ledger = ledger
        self.sleep = sleep
        self.extra = extra
        self.events: list[tuple[str, Any]] = []
        self.waited: Any = None
        self.tids: list[str] = []
        self.rids: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        for _ in range(2):
            thread = await self.client.threads.create()
            self.tids.append(thread["thread_id"])
        state = {"ledger": str(self.ledger), "sleep": self.sleep, **self.extra}
        self._tasks = [
            asyncio.create_task(self._stream(self.tids[0], state)),
            asyncio.create_task(self._wait(self.tids[1], state)),
        ]
        await wait_until(lambda: len(self.rids) == 2 or any(t.done() for t in self._tasks), "runs")

    async def _stream(self, tid: str, state: dict[str, Any]) -> None:
        async for part in self.client.runs.stream(
            tid, "ledger", input=state, stream_mode="values", durability=self.durability
        ):
            if part.event == "metadata":
                self.rids.insert(0, part.data["run_id"])
            self.events.append((part.event, part.data))

    async def _wait(self, tid: str, state: dict[str, Any]) -> None:
        # runs.wait answers only at the end: learn the run id from the thread's runs.
        task = asyncio.create_task(
            self.client.runs.wait(tid, "ledger", input=state, durability=self.durability)
        )
        await wait_until(self._has_run(tid), "the waited run")
        self.waited = await task

    def _has_run(self, tid: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            runs = await self.client.runs.list(tid)
            if runs and runs[0]["run_id"] not in self.rids:
                self.rids.append(runs[0]["run_id"])
            return bool(runs)

        return check

    def reached(self, node: str) -> bool:
        """Both runs have started ``node``."""
        return all((node, 1) in executions(self.ledger, tid) for tid in self.tids)

    async def done(self, within: float = 120.0) -> None:
        """Wait for both clients (both, even when one raised: a test goes on to read the
        rows of both runs); then raise the first client's error, if any."""
        for outcome in await self.outcomes(within):
            if isinstance(outcome, BaseException):
                raise outcome

    async def outcomes(self, within: float = 120.0) -> list[Any]:
        """Each client's result or the error it raised, once both have ended."""
        gathered = asyncio.gather(*self._tasks, return_exceptions=True)
        return list(await asyncio.wait_for(gathered, within))


async def run_rows(cluster: Cluster, rids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(cluster.url(DB))
    try:
        return [
            await conn.fetchrow(
                "SELECT status, attempt, error, output FROM runs WHERE run_id = $1::uuid", rid
            )
            for rid in rids
        ]
    finally:
        await conn.close()


async def run_events(cluster: Cluster, rid: str) -> list[tuple[str, Any]]:
    conn = await asyncpg.connect(cluster.url(DB))
    try:
        rows = await conn.fetch(
            "SELECT event, data::text AS data FROM run_events WHERE run_id = $1::uuid "
            "ORDER BY event_id",
            rid,
        )
    finally:
        await conn.close()
    return [(r["event"], json.loads(r["data"])) for r in rows]


async def check_survived(cluster: Cluster, runs: Runs, fault: str, started: float) -> None:
    """Both runs ended ``success`` on attempt 1, each node ran once, the stream and the
    wait saw one continuous run."""
    await runs.done()
    print(f"{fault}: both runs done {time.monotonic() - started:.2f} s after the fault")
    for tid in runs.tids:
        assert executions(runs.ledger, tid) == [(n, 1) for n in NODES], tid
    await check_continuous(cluster, runs)


async def check_continuous(cluster: Cluster, runs: Runs) -> None:
    """Both runs ended ``success`` on attempt 1; the stream and the wait saw one run: a
    single ``metadata`` event, no ``error`` event, the final values."""
    for row in await run_rows(cluster, runs.rids):
        assert (row["status"], row["attempt"]) == ("success", 1), dict(row)
    names = [name for name, _ in runs.events]
    assert "error" not in names, runs.events
    assert names.count("metadata") == 1, names
    assert runs.events[-1] == ("values", {**runs.events[-1][1], "done": NODES})
    assert isinstance(runs.waited, dict), runs.waited
    assert runs.waited.get("done") == NODES, runs.waited
    streamed, waited = runs.rids
    stored = [name for name, _ in await run_events(cluster, streamed)]
    assert "error" not in stored, stored
    assert stored.count("metadata") == 1, stored
    # Nobody watched the waited run: its events were never written, only its output.
    assert await run_events(cluster, waited) == []
    # Joining afterwards gives the output too.
    joined = await runs.client.runs.join(runs.tids[0], runs.rids[0])
    assert joined.get("done") == NODES, joined


CHECKPOINT_TABLES = "checkpoints, checkpoint_blobs, checkpoint_writes"


@contextlib.asynccontextmanager
async def locked(
    cluster: Cluster, tables: str, mode: str = "EXCLUSIVE", *, waiters: int = 2
) -> AsyncIterator[asyncpg.Connection[Any]]:
    """Hold ``tables`` locked in ``mode`` (from another connection, with no statement
    timeout) until ``waiters`` backends wait on the lock, so the fault then hits statements
    in flight (a connection lost while idle is simply replaced by the pool, and would test
    nothing); the lock is held until the block ends, or the fault kills the holder."""
    holder = await asyncpg.connect(cluster.url(DB))
    try:
        await holder.execute("SET statement_timeout = 0")
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"LOCK TABLE {tables} IN {mode} MODE")

        async def blocked() -> bool:
            # The holder is inside its transaction, where pg_stat_activity is read once
            # and then kept: drop that snapshot, or every poll sees the first one.
            await holder.execute("SELECT pg_stat_clear_snapshot()")
            n = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                "AND wait_event_type = 'Lock'",
                DB,
            )
            return bool(n >= waiters)

        if waiters:
            await wait_until(blocked, f"{waiters} statements waiting on the lock", 30)
        yield holder
    finally:
        with contextlib.suppress(Exception):
            await holder.close(timeout=1)
        holder.terminate()


async def in_flight(
    cluster: Cluster, runs: Runs, phase: str
) -> contextlib.AbstractAsyncContextManager[Any]:
    """Both runs with a statement blocked in ``phase``: ``writes`` (a batch of checkpoints
    and events, mid-run) or ``finish`` (the finishing transaction, after n4)."""
    if phase == "writes":
        await wait_until(lambda: runs.reached("n2"), "both runs in n2")
        return locked(cluster, CHECKPOINT_TABLES)
    await wait_until(lambda: runs.reached("n4"), "both runs in n4")
    # Only the finish touches the thread rows (FOR NO KEY UPDATE).
    return locked(cluster, "threads")


def log_count(log: Path, text: str) -> int:
    return log.read_text().count(text)


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["writes", "finish"])
async def test_terminate_every_backend_mid_run(cluster: Cluster, ledger: Path, phase: str) -> None:
    """``pg_terminate_backend`` of every backend while both runs have a statement in
    flight: a batch write mid-run, or the finishing transaction."""
    async with serving(cluster) as (client, log):
        runs = Runs(client, ledger, sleep=0.5)
        await runs.start()
        async with await in_flight(cluster, runs, phase):
            started = time.monotonic()
            killed = await asyncio.to_thread(cluster.terminate_backends)
        print(f"terminated {killed} backends")
        assert killed > 0
        await check_survived(cluster, runs, "pg_terminate_backend", started)
        print("retries logged:", log_count(log, "(retry "))


@pytest.mark.parametrize("phase", ["writes", "finish"])
async def test_fast_restart_mid_run(cluster: Cluster, ledger: Path, phase: str) -> None:
    """``pg_ctl restart -m fast`` while both runs have a statement in flight."""
    async with serving(cluster) as (client, log):
        runs = Runs(client, ledger, sleep=0.5)
        await runs.start()
        async with await in_flight(cluster, runs, phase):
            started = time.monotonic()
            await asyncio.to_thread(cluster.restart, "fast")
        print(f"restart took {time.monotonic() - started:.2f} s")
        await check_survived(cluster, runs, "restart -m fast", started)
        print("retries logged:", log_count(log, "(retry "))


@pytest.mark.parametrize("durability", ["async", "sync"])
async def test_outage_of_several_seconds_mid_run(
    cluster: Cluster, ledger: Path, durability: str
) -> None:
    """PostgreSQL stopped for 5 s while two runs are inside n2, then started again. With
    ``async`` durability their nodes go on meanwhile (the ledger is a file) and the
    checkpoints wait in the writer; with ``sync`` the graph waits at its next put."""
    async with serving(cluster) as (client, log):
        runs = Runs(client, ledger, sleep=0.5, durability=durability)
        await runs.start()
        async with await in_flight(cluster, runs, "writes"):
            started = time.monotonic()
            await asyncio.to_thread(cluster.stop, "fast")
        await asyncio.sleep(5.0)  # the outage itself
        await asyncio.to_thread(cluster.start)
        back = time.monotonic()
        print(f"database back after {back - started:.2f} s")
        await check_survived(cluster, runs, "5 s outage", back)
        print("retries logged:", log_count(log, "(retry "))


async def test_statement_timeout_once(cluster: Cluster, ledger: Path) -> None:
    """The server's connections have ``statement_timeout = 200ms``; another connection
    holds the checkpoint tables in EXCLUSIVE mode for 3 s mid-run, so the runs' writes
    time out (SQLSTATE 57014) until it lets go."""
    url = cluster.url(DB)
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(cluster.execute, f"ALTER DATABASE {DB} SET statement_timeout = '200ms'")
    async with serving(cluster) as (client, log):
        runs = Runs(client, ledger, sleep=0.5)
        await runs.start()
        await wait_until(lambda: runs.reached("n2"), "both runs in n2")
        holder = await asyncpg.connect(url)
        try:
            await holder.execute("SET statement_timeout = 0")
            started = time.monotonic()
            async with holder.transaction():
                await holder.execute(
                    "LOCK TABLE checkpoints, checkpoint_blobs, checkpoint_writes IN EXCLUSIVE MODE"
                )
                await asyncio.sleep(3.0)  # the fault itself: the lock is held this long
        finally:
            await holder.close()
        timeouts = log_count(log, "QueryCanceledError")
        print(f"statement timeouts logged while the lock was held: {timeouts}")
        assert timeouts > 0, "no statement timed out: the test did not test anything"
        await check_survived(cluster, runs, "statement_timeout", started)


async def test_fault_raised_out_of_the_graph_resumes_within_the_claim(
    cluster: Cluster, ledger: Path
) -> None:
    """n3 puts an item in the store (the database) while another connection holds the
    store's table for 3 s and the server's statements time out after 200 ms: the error
    (QueryCanceledError) is raised out of the graph. The attempt resumes from its last
    committed checkpoint (after n2), within its claim, until n3 gets through: n1, n2 and n4
    ran once each, n3 again only because it had not committed."""
    url = cluster.url(DB)
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(cluster.execute, f"ALTER DATABASE {DB} SET statement_timeout = '200ms'")
    async with serving(cluster) as (client, log):
        runs = Runs(client, ledger, sleep=0.5, store_at="n3")
        await runs.start()
        await wait_until(lambda: runs.reached("n2"), "both runs in n2")
        async with locked(cluster, "store_items", waiters=0):
            started = time.monotonic()

            def resumed() -> bool:
                return all(executions(ledger, tid).count(("n3", 1)) >= 2 for tid in runs.tids)

            await wait_until(resumed, "both runs resumed in n3", 30)
            await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
        await runs.done()
        print(
            f"resumed in-claim {log_count(log, 'resuming (retry')} times; done "
            f"{time.monotonic() - started:.2f} s after the lock was taken"
        )
        for tid in runs.tids:
            ran = executions(ledger, tid)
            assert all(attempt == 1 for _, attempt in ran), ran
            assert [n for n, _ in ran if n != "n3"] == ["n1", "n2", "n4"], ran
            assert ran[:2] == [("n1", 1), ("n2", 1)], ran
            assert ran[-1] == ("n4", 1), ran
            print(f"n3 ran {ran.count(('n3', 1))} times")
        await check_continuous(cluster, runs)


async def test_retry_budget_spent_ends_the_run_error(cluster: Cluster, ledger: Path) -> None:
    """With ``TURNSTILE_DB_RETRY_SECONDS=2`` and PostgreSQL stopped mid-run until the
    attempt has given up: the run ends ``error`` (written once the database is back, by
    the finish, which has a budget of its own), with a message naming the setting; the
    stream ends with that ``error`` event. (Had the database stayed away for the finish's
    budget too, the attempt would be abandoned and the run re-claimed once its lease
    expired, resuming from its last committed checkpoint.)"""
    async with serving(cluster, TURNSTILE_DB_RETRY_SECONDS="2") as (client, log):
        runs = Runs(client, ledger, sleep=0.5)
        await runs.start()
        await wait_until(lambda: runs.reached("n2"), "both runs in n2")
        started = time.monotonic()
        await asyncio.to_thread(cluster.stop, "fast")
        # The writers give up after 2 s; their finishes then ride out the rest.
        await wait_until(
            lambda: log_count(log, "writing its checkpoints and events failed") >= 2,
            "both attempts giving up",
            30,
        )
        gave_up = time.monotonic()
        await asyncio.to_thread(cluster.start)
        print(f"gave up {gave_up - started:.2f} s into the outage")
        streamed, waited = await runs.outcomes(60)
        # The stream ends with the ``error`` event (checked below); the SDK's wait raises
        # the run's error.
        assert streamed is None, streamed
        assert isinstance(waited, Exception), waited
        assert str(waited).startswith("DatabaseUnavailable: "), waited
        for tid, row in zip(runs.tids, await run_rows(cluster, runs.rids), strict=True):
            assert row["status"] == "error", dict(row)
            assert row["attempt"] == 1
            error = json.loads(row["error"])
            assert error["error"] == "DatabaseUnavailable", error
            assert "TURNSTILE_DB_RETRY_SECONDS" in error["message"], error
            assert executions(ledger, tid)[:2] == [("n1", 1), ("n2", 1)]
        assert runs.events, "the stream got nothing"
        assert runs.events[-1][0] == "error", runs.events[-3:]
        assert runs.events[-1][1]["error"] == "DatabaseUnavailable"
