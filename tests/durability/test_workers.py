"""Liveness from the workers table, not from host and pid (DESIGN I4), with real processes.

Workers in separate pid namespaces (``unshare --pid --fork``) share the hostname and both
run as pid 1, as containers with host networking do: a healthy run is never dispatched
twice, and a SIGKILLed worker's runs are still recovered by the other within seconds. A
run taken from a worker and claimed again by the same worker keeps its new attempt's
bookkeeping (renewals), so it runs on to the end as attempt 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.db import migrate
from app.db import workers as worker_rows
from app.db.notify import RUN_READY
from tests.cluster import private_cluster
from tests.durability.test_crash import (  # the crash tests' ledger and helpers
    BASE_ENV,
    GRAPHS,
    api,
    db,  # noqa: F401 (fixture)
    executions,
    join,
    log_path,
    resumed_at,
    run_row,
    start,
    start_chain,
    wait_until,
    worker,
)
from tests.server import ROOT

NODE_RUNS = """CREATE TABLE node_runs (thread_id text NOT NULL, node text NOT NULL,
    attempt int NOT NULL, pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unshare --pid needs root")


class NamespacedWorker:
    """A ``turnstile worker`` that is pid 1 of a pid namespace of its own."""

    def __init__(self, unshare: subprocess.Popen[bytes], pid: int, log: Path) -> None:
        self.unshare = unshare
        self.pid = pid
        """The worker's pid outside its namespace (inside, it is 1)."""
        self.log = log

    def kill_9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.unshare.wait(timeout=10)  # unshare reaps it and exits


@contextlib.contextmanager
def namespaced_worker(
    database_url: str, *, jobs: int, timeout: float = 60.0
) -> Iterator[NamespacedWorker]:
    """``unshare --pid --fork`` a worker (same hostname, pid 1 inside); yield it once its
    pool started. At the end: SIGTERM to the worker itself (unshare does not forward it),
    SIGKILL after 30 s; ``--kill-child`` kills it should unshare die first."""
    cmd = ["unshare", "--pid", "--fork", "--kill-child=SIGKILL"]
    cmd += [sys.executable, "-m", "app", "worker", "--no-migrate", "--config", GRAPHS]
    cmd += ["--jobs", str(jobs)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(BASE_ENV, DATABASE_URL=database_url)
    log_dir = ROOT / ".pytest_cache" / "servers"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"nsworker-{time.monotonic_ns()}.log"
    with open(path, "w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        child: NamespacedWorker | None = None
        try:
            deadline = time.monotonic() + timeout
            while "turnstile.worker: worker" not in path.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{path.read_text()}")
                time.sleep(0.05)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            child = NamespacedWorker(proc, int(children[0]), path)
            yield child
        finally:
            if proc.poll() is None:
                if child is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def worker_rows_now(conn: asyncpg.Connection[Any]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT worker_id, host, pid, started_at, heartbeat_at, "
            "extract(epoch FROM heartbeat_at - started_at) AS beating "
            "FROM workers ORDER BY started_at"
        )
    )


@pytest.mark.timeout(150)
async def test_same_host_and_pid_in_two_pid_namespaces_no_double_dispatch(
    database_url: str,
    db: asyncpg.Connection[Any],  # noqa: F811
) -> None:
    """Worker A (pid 1 of its namespace) holds a long run; worker B (pid 1 of another,
    same hostname) starts and heartbeats long enough to judge: the run stays attempt 1 on
    A, its node ran once. Then A is SIGKILLed: B re-queues its run within seconds (not a
    30 s lease) and finishes it from its checkpoint."""
    _, dead_after = worker_rows.timing(30.0)  # the default lease
    async with contextlib.AsyncExitStack() as stack:
        client, (a,) = await api(stack, database_url, namespaced_worker(database_url, jobs=2))
        tid, rid = await start_chain(client, sleep=0.05, hold="n2", hold_seconds=120)

        async def in_n2() -> bool:
            return await executions(db, tid) == [("n1", 1), ("n2", 1)]

        await wait_until(in_n2, "the run inside n2 on A")
        owner = (await run_row(db, rid))["lease_owner"]
        (b,) = await start(stack, namespaced_worker(database_url, jobs=2))
        rows = await worker_rows_now(db)
        assert [(r["pid"], r["host"]) for r in rows] == [(1, rows[0]["host"])] * 2
        assert rows[0]["worker_id"] == owner  # A's row; both say host:1:...
        b_id = rows[1]["worker_id"]
        assert owner.split(":")[:2] == b_id.split(":")[:2]

        async def b_may_judge() -> bool:
            row = await db.fetchrow(
                "SELECT extract(epoch FROM heartbeat_at - started_at) AS beating "
                "FROM workers WHERE worker_id = $1",
                b_id,
            )
            return row is not None and float(row["beating"]) >= 2 * dead_after

        await wait_until(b_may_judge, "B to heartbeat for twice dead_after", within=60)
        # B has been able to judge A for dead_after: A is alive, its run is untouched.
        row = await run_row(db, rid)
        assert (row["status"], row["attempt"], row["lease_owner"]) == ("running", 1, owner)
        assert await executions(db, tid) == [("n1", 1), ("n2", 1)]
        assert await worker_rows.count_alive(db) == 2

        a.kill_9()
        killed = time.monotonic()

        async def recovered() -> bool:
            return ("n2", 2) in await executions(db, tid)

        await wait_until(recovered, "B to resume the run", within=60)
        recovery = time.monotonic() - killed
        await join(client, tid, rid)
        print(f"SIGKILLed worker's run resumed by the other {recovery:.1f}s after the kill")
        row = await run_row(db, rid)
        assert (row["status"], row["attempt"], row["lease_owner"]) == ("success", 2, None)
        assert await executions(db, tid) == resumed_at(1)
        assert await worker_rows.count_alive(db) == 1
        assert "re-queued 1 runs of dead workers" in b.log.read_text()


@pytest.mark.timeout(120)
async def test_a_run_reclaimed_by_the_same_worker_keeps_its_new_attempt_alive(
    database_url: str,
    db: asyncpg.Connection[Any],  # noqa: F811
) -> None:
    """The only worker's run is taken from it while attempt 1 is parked in n2 (re-queued
    as a recovery does when it judges the worker dead, e.g. during a partition) and the
    same worker claims it again: attempt 1 is stopped, and attempt 2 keeps its lease
    (renewals) for as long as it runs, longer than the lease, to the end. Before, attempt
    1's end erased attempt 2's entry: attempt 2 lost its renewals, its lease expired, and
    the run was dispatched a third time."""
    lease = 2.0
    t0 = time.monotonic()
    async with contextlib.AsyncExitStack() as stack:
        client, (proc,) = await api(stack, database_url, worker(database_url, jobs=2, lease=lease))
        print(f"API and worker started in {time.monotonic() - t0:.1f}s")
        # Attempt 1 parks 2 s in n2; attempt 2's four nodes take 2 s each (4 leases).
        tid, rid = await start_chain(client, sleep=2.0, hold="n2", hold_seconds=2)

        async def in_n2() -> bool:
            return await executions(db, tid) == [("n1", 1), ("n2", 1)]

        await wait_until(in_n2, "attempt 1 inside n2")
        taken = await db.fetchval(
            """WITH r AS (
                 UPDATE runs SET status = 'pending', lease_owner = NULL,
                        lease_expires_at = NULL, lease_token = NULL, updated_at = now()
                  WHERE run_id = $1::uuid AND status = 'running' RETURNING 1)
               SELECT count(*) FROM r, LATERAL (SELECT pg_notify($2, '')) AS ready""",
            rid,
            RUN_READY,
        )
        assert taken == 1

        async def reclaimed() -> bool:
            return (await run_row(db, rid))["attempt"] == 2

        taken_at = time.monotonic()
        await wait_until(reclaimed, "the same worker to claim the run again")
        reclaim = time.monotonic() - taken_at
        await join(client, tid, rid, within=60)
        print(
            f"re-claimed by the same worker {reclaim * 1000:.0f} ms after the re-queue; "
            f"attempt 2 ran {time.monotonic() - taken_at:.1f}s (lease {lease:g}s)"
        )
        row = await run_row(db, rid)
        assert (row["status"], row["attempt"]) == ("success", 2)
        assert await executions(db, tid) == resumed_at(1)
        assert "lease epoch 1 is no longer held; stopping the attempt" in (
            log_path(proc).read_text()
        )


@pytest.mark.timeout(180)
async def test_a_database_outage_longer_than_dead_after_judges_no_worker_dead() -> None:
    """Two workers each hold a run; the database refuses them for longer than dead_after
    (no restart: ``ALLOW_CONNECTIONS false`` and every backend terminated, as a network
    outage looks), so every heartbeat is stale at once. After it, the first worker back
    must not take the other for dead: both runs stay attempt 1 with their owners."""
    _, dead_after = worker_rows.timing(30.0)
    with private_cluster() as cluster:
        url = cluster.create_database("ts")
        await asyncio.to_thread(migrate.upgrade, url)
        conn = await asyncpg.connect(url)
        await conn.execute(NODE_RUNS)
        await conn.close()
        async with contextlib.AsyncExitStack() as stack:
            client, _ = await api(stack, url, worker(url, jobs=1), worker(url, jobs=1))
            runs = [
                await start_chain(client, sleep=0.05, hold="n2", hold_seconds=120) for _ in range(2)
            ]
            db = await asyncpg.connect(url)
            stack.push_async_callback(db.close)

            async def both_in_n2() -> bool:
                for tid, _ in runs:
                    if await executions(db, tid) != [("n1", 1), ("n2", 1)]:
                        return False
                return True

            await wait_until(both_in_n2, "a run inside n2 on each worker")
            owners = {rid: (await run_row(db, rid))["lease_owner"] for _, rid in runs}
            assert len(set(owners.values())) == 2
            await db.close()

            cluster.execute('ALTER DATABASE "ts" ALLOW_CONNECTIONS false')
            cluster.terminate_backends("ts")
            await asyncio.sleep(dead_after + 3)  # the outage itself
            cluster.execute('ALTER DATABASE "ts" ALLOW_CONNECTIONS true')
            back = time.monotonic()
            db = await asyncpg.connect(url)
            stack.push_async_callback(db.close)

            async def both_beat_long_enough() -> bool:
                n = await db.fetchval(
                    "SELECT count(*) FROM workers WHERE heartbeat_at >= now() - interval '2 s' "
                    "AND worker_id = ANY($1::text[])",
                    list(owners.values()),
                )
                return n == 2 and time.monotonic() - back >= 2 * dead_after

            await wait_until(both_beat_long_enough, "both workers beating again", within=60)
            for tid, rid in runs:
                row = await run_row(db, rid)
                assert (row["status"], row["attempt"], row["lease_owner"]) == (
                    "running",
                    1,
                    owners[rid],
                ), rid
                assert await executions(db, tid) == [("n1", 1), ("n2", 1)]
