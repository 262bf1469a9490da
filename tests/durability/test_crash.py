"""Crash recovery with real processes and real signals (DESIGN I4, I5).

One API process (``serve --no-worker``) per test and separate ``turnstile worker``
processes that the tests SIGKILL, SIGSTOP and SIGCONT. The graphs (``graphs/chain.py``)
record every node execution in ``node_runs``, so the tests can tell exactly which nodes
ran, how often, in which attempt and in which process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.db.urls import plain_url
from tests.server import Process, running_server, running_worker

GRAPHS = str(Path(__file__).resolve().parent / "graphs" / "langgraph.json")
NODES = ["n1", "n2", "n3", "n4", "n5"]
ROUNDS = 5
RUNS_PER_ROUND = 4
KILL_9_LEASE = 3.0
"""The kill -9 rounds' lease: a heartbeat every second and dead after 3 s (the default
lease's 5 s were three quarters of the test's time)."""
# Stream events must outlive the test (they are checked at the end).
BASE_ENV = {"TURNSTILE_STREAM_TTL_SECONDS": "600", "TURNSTILE_SHUTDOWN_GRACE_SECONDS": "1"}
"""Workers of these tests: events kept for the test's length; a short grace at their stop
(no test here is about the graceful shutdown: tests/durability/test_scale.py is), so the
teardown of a worker holding a long run does not wait 10 s."""

Execution = tuple[str, int]
"""(node, run attempt) of one recorded node execution."""


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(plain_url(database_url))
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS node_runs (
               thread_id text NOT NULL,
               node text NOT NULL,
               attempt int NOT NULL,
               pid int NOT NULL,
               at timestamptz NOT NULL DEFAULT clock_timestamp())"""
    )
    try:
        yield conn
    finally:
        await conn.close()


# --- helpers ----------------------------------------------------------------------------


def worker(database_url: str, *, jobs: int, lease: float | None = None) -> Any:
    env = dict(BASE_ENV)
    if lease is not None:
        env["TURNSTILE_LEASE_SECONDS"] = str(lease)
    return running_worker(database_url, config=GRAPHS, jobs=jobs, env=env)


async def start(
    stack: contextlib.AsyncExitStack[Any], *cms: contextlib.AbstractContextManager[Any]
) -> list[Any]:
    """Enter ``running_server``/``running_worker`` contexts at the same time (each process
    takes seconds to start); ``stack`` leaves them (stops the processes)."""
    started = await asyncio.gather(
        *(asyncio.to_thread(cm.__enter__) for cm in cms), return_exceptions=True
    )
    for cm, value in zip(cms, started, strict=True):
        if not isinstance(value, BaseException):
            stack.push(cm.__exit__)
    for value in started:
        if isinstance(value, BaseException):
            raise value
    return started


async def api(
    stack: contextlib.AsyncExitStack[Any],
    database_url: str,
    *workers: contextlib.AbstractContextManager[Any],
) -> tuple[LangGraphClient, list[Process]]:
    """An API process (no workers in it) and ``workers``, all started at once; an SDK
    client of the API."""
    url, *procs = await start(
        stack, running_server(database_url, config=GRAPHS, extra_args=("--no-worker",)), *workers
    )
    client = get_client(url=url)
    stack.push_async_callback(client.http.client.aclose)
    return client, procs


def kill_9(proc: Process) -> None:
    """SIGKILL and reap the worker: an unreaped zombie still answers ``kill(pid, 0)``, and
    the next worker must see the pid gone to recover its runs at once."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def log_path(proc: Process) -> Path:
    """The log file the worker writes (its stdout)."""
    return Path(os.readlink(f"/proc/{proc.pid}/fd/1"))


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def start_chain(client: LangGraphClient, **state: Any) -> tuple[str, str]:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "chain", input=state, durability="sync")
    return thread["thread_id"], run["run_id"]


async def executions(db: asyncpg.Connection[Any], tid: str) -> list[Execution]:
    rows = await db.fetch(
        "SELECT node, attempt FROM node_runs WHERE thread_id = $1 ORDER BY at", tid
    )
    return [(r["node"], r["attempt"]) for r in rows]


async def executed_by(db: asyncpg.Connection[Any], tid: str) -> list[tuple[str, int, int]]:
    rows = await db.fetch(
        "SELECT node, attempt, pid FROM node_runs WHERE thread_id = $1 ORDER BY at", tid
    )
    return [(r["node"], r["attempt"], r["pid"]) for r in rows]


async def run_row(db: asyncpg.Connection[Any], rid: str) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT status, attempt, lease_owner, lease_epoch, updated_at, ended_at, output "
        "FROM runs WHERE run_id = $1::uuid",
        rid,
    )
    assert row is not None
    return row


async def join(client: LangGraphClient, tid: str, rid: str, within: float = 60.0) -> Any:
    return await asyncio.wait_for(client.runs.join(tid, rid), within)


async def metadata_attempts(db: asyncpg.Connection[Any], rid: str) -> list[int]:
    rows = await db.fetch(
        "SELECT data::text AS data FROM run_events WHERE run_id = $1::uuid "
        "AND event = 'metadata' ORDER BY event_id",
        rid,
    )
    return [json.loads(r["data"])["attempt"] for r in rows]


def resumed_at(k: int) -> list[Execution]:
    """Executions of a chain killed inside node ``NODES[k]`` on attempt 1, resumed on 2."""
    return [(n, 1) for n in NODES[: k + 1]] + [(NODES[k], 2)] + [(n, 2) for n in NODES[k + 1 :]]


# --- tests ------------------------------------------------------------------------------


async def test_kill_9_mid_run_resumes_each_run_from_its_last_checkpoint(
    database_url: str, db: asyncpg.Connection[Any]
) -> None:
    """5 rounds x 4 runs = 20 kill points, every node position 1..5 four times: each round
    parks 4 runs in 4 different nodes, SIGKILLs the worker, and the next worker judges it
    dead (``dead_after``: 3 s with the 3 s lease here, 5 s by default) and recovers them;
    they resume from their last checkpoint."""
    killed: dict[str, tuple[str, int]] = {}  # thread -> (run, index of the node killed in)
    previous: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        client, (proc,) = await api(
            stack, database_url, worker(database_url, jobs=4, lease=KILL_9_LEASE)
        )
        for rnd in range(ROUNDS):
            if rnd:
                # A new worker: it recovers the runs the previous one died with.
                (proc,) = await start(stack, worker(database_url, jobs=4, lease=KILL_9_LEASE))
                for tid in previous:
                    await join(client, tid, killed[tid][0])
            batch: list[str] = []
            for i in range(RUNS_PER_ROUND):
                k = (rnd + i) % len(NODES)
                # Attempt 1 parks in node k (hold_seconds); every other node takes 50 ms.
                tid, rid = await start_chain(client, sleep=0.05, hold=NODES[k], hold_seconds=120)
                killed[tid] = (rid, k)
                batch.append(tid)

            async def parked(batch: list[str] = batch) -> bool:
                for tid in batch:
                    k = killed[tid][1]
                    if await executions(db, tid) != [(n, 1) for n in NODES[: k + 1]]:
                        return False
                return True

            await wait_until(parked, f"round {rnd}: 4 runs parked in their target nodes")
            kill_9(proc)
            for tid in batch:  # nothing ran between the check and the kill
                k = killed[tid][1]
                assert await executions(db, tid) == [(n, 1) for n in NODES[: k + 1]]
                assert (await run_row(db, killed[tid][0]))["status"] == "running"
            previous = batch

        await start(stack, worker(database_url, jobs=4, lease=KILL_9_LEASE))
        for tid in previous:
            await join(client, tid, killed[tid][0])
        # The same chain without a crash, for comparison.
        ref_tid, ref_rid = await start_chain(client, sleep=0.05)
        await join(client, ref_tid, ref_rid)

        assert sorted(k for _, k in killed.values()) == sorted(list(range(len(NODES))) * 4)
        reference = (await client.threads.get_state(ref_tid))["values"]
        assert reference["done"] == NODES
        assert await executions(db, ref_tid) == [(n, 1) for n in NODES]
        ref_run = await run_row(db, ref_rid)
        assert (ref_run["status"], ref_run["attempt"]) == ("success", 1)

        for tid, (rid, k) in killed.items():
            state = await client.threads.get_state(tid)
            assert state["values"]["done"] == reference["done"], (tid, k)
            assert state["next"] == []
            # Nodes completed before the kill ran once; node k twice; the rest once, resumed.
            assert await executions(db, tid) == resumed_at(k), (tid, NODES[k])
            row = await run_row(db, rid)
            assert (row["status"], row["attempt"], row["lease_owner"]) == ("success", 2, None)
            assert (await client.runs.get(tid, rid))["status"] == "success"
            assert (await client.threads.get(tid))["status"] == "idle"
            # The resumed attempt's stream announced itself with a new metadata event.
            assert await metadata_attempts(db, rid) == [1, 2]
    left = await db.fetchval(
        "SELECT count(*) FROM runs WHERE status IN ('pending', 'queued', 'running')"
    )
    assert left == 0
    busy = await db.fetchval("SELECT count(*) FROM threads WHERE status <> 'idle'")
    assert busy == 0


async def test_survivor_takes_over_the_runs_of_a_killed_worker(
    database_url: str, db: asyncpg.Connection[Any]
) -> None:
    """Two workers (2 jobs each) hold 2 runs each; one is SIGKILLed and no worker is
    started: the survivor re-queues the dead worker's runs once their lease expires and
    finishes them, from their checkpoints."""
    async with contextlib.AsyncExitStack() as stack:
        client, (victim, survivor) = await api(
            stack,
            database_url,
            worker(database_url, jobs=2, lease=3),
            worker(database_url, jobs=2, lease=3),
        )
        started = [
            await start_chain(client, sleep=0.3, hold="n3", hold_seconds=6) for _ in range(4)
        ]

        async def all_in_n3() -> bool:
            for tid, _ in started:
                if await executions(db, tid) != [("n1", 1), ("n2", 1), ("n3", 1)]:
                    return False
            return True

        await wait_until(all_in_n3, "4 runs inside n3")
        owners = {rid: (await run_row(db, rid))["lease_owner"] for _, rid in started}
        pids = {rid: int(owner.rsplit(":", 2)[1]) for rid, owner in owners.items()}
        # Each worker holds two of the runs.
        assert sorted(pids.values()) == sorted([victim.pid, survivor.pid] * 2), pids
        kill_9(victim)
        killed_at = time.monotonic()
        for tid, rid in started:
            await join(client, tid, rid, within=60)
        elapsed = time.monotonic() - killed_at
        assert survivor.poll() is None
        print(f"survivor finished every run {elapsed:.1f}s after the kill (lease 3s)")

        for tid, rid in started:
            row = await run_row(db, rid)
            assert row["status"] == "success"
            assert (await client.threads.get_state(tid))["values"]["done"] == NODES
            assert (await client.threads.get(tid))["status"] == "idle"
            done = await executed_by(db, tid)
            if pids[rid] == victim.pid:
                # n1, n2 done on the victim, killed in n3; n3 again, n4, n5 on the survivor.
                assert row["attempt"] == 2
                assert done == [(n, a, victim.pid) for n, a in resumed_at(2)[:3]] + [
                    (n, a, survivor.pid) for n, a in resumed_at(2)[3:]
                ]
                assert await metadata_attempts(db, rid) == [1, 2]
            else:
                assert row["attempt"] == 1
                assert done == [(n, 1, survivor.pid) for n in NODES]
    left = await db.fetchval(
        "SELECT count(*) FROM runs WHERE status IN ('pending', 'queued', 'running')"
    )
    assert left == 0


async def test_stopped_worker_loses_its_lease_and_its_late_writes_are_rejected(
    database_url: str, db: asyncpg.Connection[Any]
) -> None:
    """Worker A is SIGSTOPped inside n2 past its lease; worker B takes the run over
    (attempt 2) and completes it; then A is SIGCONTed: every write it tries is fenced
    off, and it runs no further node."""
    async with contextlib.AsyncExitStack() as stack:
        client, (a,) = await api(stack, database_url, worker(database_url, jobs=1, lease=2))
        a_log = log_path(a)
        tid, rid = await start_chain(client, sleep=0.1, hold="n2", hold_seconds=5)

        async def in_n2() -> bool:
            return await executions(db, tid) == [("n1", 1), ("n2", 1)]

        await wait_until(in_n2, "n2 started on worker A")
        a.send_signal(signal.SIGSTOP)
        try:

            async def expired() -> bool:
                return bool(
                    await db.fetchval(
                        "SELECT lease_expires_at < now() FROM runs WHERE run_id = $1::uuid", rid
                    )
                )

            await wait_until(expired, "A's lease to expire", within=10)
            (b,) = await start(stack, worker(database_url, jobs=1, lease=2))
            await join(client, tid, rid, within=60)
            row = await run_row(db, rid)
            assert (row["status"], row["attempt"]) == ("success", 2)
            before = await _snapshot(db, tid, rid)
            assert before["values"]["done"] == NODES
            assert [(n, at) for n, at, _ in before["nodes"]] == resumed_at(1)
            assert [pid for *_, pid in before["nodes"]] == [a.pid] * 2 + [b.pid] * 4
        finally:
            a.send_signal(signal.SIGCONT)

        async def a_gave_up() -> bool:
            return "abandoning this attempt" in a_log.read_text()

        # A's n2 ends (its hold is over) and A tries to write its result.
        await wait_until(a_gave_up, "A to report its lost lease", within=20)
        await asyncio.sleep(1.0)  # anything A might still do would land here
        after = await _snapshot(db, tid, rid)
        assert a.poll() is None
        assert b.poll() is None

        # A wrote no checkpoint, write, event, status or thread state after B's, and it
        # ran no node after n2: nothing changed since B finished the run.
        assert after == before
        assert f"run {rid} lost lease epoch 1; abandoning this attempt" in a_log.read_text()
        state = await client.threads.get_state(tid)
        assert state["values"]["done"] == NODES
        assert (await client.threads.get(tid))["status"] == "idle"
        assert await metadata_attempts(db, rid) == [1, 2]


async def _snapshot(db: asyncpg.Connection[Any], tid: str, rid: str) -> dict[str, Any]:
    """Everything a run's writers touch: checkpoints, writes, blobs, events, the run and
    thread rows, the nodes executed."""
    checkpoints = await db.fetch(
        "SELECT checkpoint_ns, checkpoint_id, checkpoint::text, metadata::text "
        "FROM checkpoints WHERE thread_id = $1 ORDER BY checkpoint_id",
        tid,
    )
    writes = await db.fetch(
        "SELECT checkpoint_id, task_id, idx, channel, blob FROM checkpoint_writes "
        "WHERE thread_id = $1 ORDER BY checkpoint_id, task_id, idx",
        tid,
    )
    blobs = await db.fetchval("SELECT count(*) FROM checkpoint_blobs WHERE thread_id = $1", tid)
    events = await db.fetch(
        "SELECT event_id, event, data::text FROM run_events WHERE thread_id = $1::uuid "
        "ORDER BY event_id",
        tid,
    )
    thread = await db.fetchrow(
        "SELECT status, values::text, updated_at, state_updated_at FROM threads "
        "WHERE thread_id = $1::uuid",
        tid,
    )
    assert thread is not None
    run = await run_row(db, rid)
    return {
        "checkpoints": [tuple(r) for r in checkpoints],
        "writes": [tuple(r) for r in writes],
        "blobs": blobs,
        "events": [tuple(r) for r in events],
        "thread": tuple(thread),
        "run": tuple(run),
        "values": json.loads(thread["values"]),
        "nodes": await executed_by(db, tid),
    }


async def test_a_healthy_step_that_blocks_the_event_loop_runs_once(
    database_url: str, db: asyncpg.Connection[Any]
) -> None:
    """A node blocking its worker's event loop (synchronous time.sleep) for more than 3
    lease periods keeps its lease (heartbeat thread): the other worker never takes it."""
    async with contextlib.AsyncExitStack() as stack:
        client, _ = await api(
            stack,
            database_url,
            worker(database_url, jobs=1, lease=2),
            worker(database_url, jobs=1, lease=2),
        )
        thread = await client.threads.create()
        tid = thread["thread_id"]
        run = await client.runs.create(tid, "blocker", input={"seconds": 7}, durability="sync")
        output = await join(client, tid, run["run_id"], within=60)
    assert output["done"] == ["block"]
    assert await executions(db, tid) == [("block", 1)]
    row = await run_row(db, run["run_id"])
    assert (row["status"], row["attempt"], row["lease_epoch"]) == ("success", 1, 1)
    assert await metadata_attempts(db, run["run_id"]) == [1]


async def test_a_run_whose_worker_keeps_dying_ends_in_error(
    database_url: str, db: asyncpg.Connection[Any]
) -> None:
    """With max_attempts=1, the run's worker is SIGKILLed mid-run: the next worker does not
    start it a second time but ends it ``error`` with a clear message, thread ``error``."""
    env = {**BASE_ENV, "TURNSTILE_MAX_ATTEMPTS": "1"}
    async with contextlib.AsyncExitStack() as stack:
        first = running_worker(database_url, config=GRAPHS, jobs=1, env=env)
        client, (doomed,) = await api(stack, database_url, first)
        tid, rid = await start_chain(client, sleep=0.1, hold="n2", hold_seconds=30)

        async def in_n2() -> bool:
            return await executions(db, tid) == [("n1", 1), ("n2", 1)]

        await wait_until(in_n2, "the run inside n2")
        kill_9(doomed)
        (await start(stack, running_worker(database_url, config=GRAPHS, jobs=1, env=env)))
        out = await join(client, tid, rid)
        assert out["__error__"]["error"] == "AttemptsExhausted"
        assert "max_attempts=1" in out["__error__"]["message"]
        row = await run_row(db, rid)
        assert row["status"] == "error"
        assert row["attempt"] == 2
        assert await executions(db, tid) == [("n1", 1), ("n2", 1)]  # not run again
        assert (await client.threads.get(tid))["status"] == "error"
