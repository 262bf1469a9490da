"""Scale-out with real processes: API-only servers and worker processes on one database.

* 1,000 runs with mixed multitask strategies from two API processes, executed by two worker
  processes, while a sampler checks the one-active-run rule straight in the database.
* SIGTERM to a worker: running runs finish within the grace or are handed back uncounted,
  also when the signal lands right after a claim.
* Cancel (interrupt, rollback, multitask interrupt) received by an API process for a run
  that executes in a worker process; a cancel that arrives while the run is finishing.
* Run timeout, and the ``busy_threads`` admin view.

Every wait polls with a deadline; the only timing limits are generous overall deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError

from app.db.notify import RUN_CANCEL
from app.db.urls import plain_url
from tests.server import running_server, running_worker

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
API_ONLY = ("--no-worker", "--no-migrate")
# Keep the teardown of the worker processes short; tests that need another grace say so.
QUICK_STOP = {"TURNSTILE_SHUTDOWN_GRACE_SECONDS": "1"}
ACTIVE = ("pending", "queued", "running")

T = TypeVar("T")

pytestmark = pytest.mark.timeout(240)


# --- helpers -----------------------------------------------------------------------------


@asynccontextmanager
async def _db(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def _client(url: str) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=url, api_key=None)
    try:
        yield client
    finally:
        await client.http.client.aclose()


async def _until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float,
    what: str,
    every: float = 0.02,
) -> T:
    """Poll ``probe`` until ``done(value)``; fail with the last value after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {within:g} s (last: {value!r})")
        await asyncio.sleep(every)


async def _run_row(conn: asyncpg.Connection[Any], run_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT status, attempt, lease_owner, lease_expires_at, started_at, ended_at, "
        "cancel_action FROM runs WHERE run_id = $1",
        uuid.UUID(run_id),
    )


async def _wait_run(
    conn: asyncpg.Connection[Any], run_id: str, status: str, *, within: float = 30.0
) -> asyncpg.Record:
    row = await _until(
        lambda: _run_row(conn, run_id),
        lambda r: r is not None and r["status"] == status,
        within=within,
        what=f"run {run_id} {status}",
        every=0.005,
    )
    assert row is not None
    return row


async def _wait_executing(
    conn: asyncpg.Connection[Any], run_id: str, *, within: float = 30.0
) -> None:
    """Until the run's graph has written a checkpoint: its task in the worker is executing
    (not merely claimed)."""
    await _until(
        lambda: conn.fetchval("SELECT count(*) FROM checkpoints WHERE run_id = $1", run_id),
        lambda n: n > 0,
        within=within,
        what=f"run {run_id} executing",
        every=0.005,
    )


async def _new_thread(client: LangGraphClient) -> str:
    return str((await client.threads.create())["thread_id"])


# --- 1. two API processes, two worker processes, 1,000 runs ------------------------------

N_THREADS = 100
N_RUNS = 1000
N_CLIENTS = 32
STRATEGIES = ("reject", "enqueue", "interrupt", "rollback")
# ``ended_at`` is now() of the finishing transaction, i.e. when it began, a little before it
# committed (it first waits for the thread row lock): allow that much before a 409's window.
ENDED_AT_SLACK = 0.1


@dataclass
class Attempt:
    index: int
    thread_id: str
    strategy: str
    started: float
    answered: float
    status: int
    run: dict[str, Any] | None = None
    detail: str = ""


def _ts(value: datetime) -> float:
    return value.timestamp()


async def _sample(conn: asyncpg.Connection[Any], stop: asyncio.Event, seen: dict[str, Any]) -> None:
    """Until ``stop``: no thread ever shows two active runs, nor two running ones."""
    while not stop.is_set():
        two_active = await conn.fetch(
            "SELECT thread_id, count(*) FROM runs WHERE status IN ('pending', 'running') "
            "GROUP BY thread_id HAVING count(*) > 1"
        )
        two_running = await conn.fetch(
            "SELECT thread_id, count(*) FROM runs WHERE status = 'running' "
            "GROUP BY thread_id HAVING count(*) > 1"
        )
        busy = await conn.fetchval("SELECT count(*) FROM busy_threads")
        seen["samples"] += 1
        seen["max_busy_threads"] = max(seen["max_busy_threads"], busy)
        if two_active:
            seen["two_active"].append([dict(r) for r in two_active])
        if two_running:
            seen["two_running"].append([dict(r) for r in two_running])
        await asyncio.sleep(0.01)


async def _stuck(conn: asyncpg.Connection[Any]) -> str:
    """What the runs left active look like: status, cancel request, lease, and how far the
    graph got (``span``: last minus first checkpoint step of the run; 3 = it ran to its end,
    None = it wrote no checkpoint)."""
    rows = await conn.fetch(
        """SELECT r.status, r.cancel_action, r.attempt, r.lease_owner IS NOT NULL AS leased,
                  (SELECT max((c.metadata->>'step')::int) - min((c.metadata->>'step')::int)
                     FROM checkpoints c WHERE c.run_id = r.run_id::text) AS span,
                  count(*) AS runs
             FROM runs r WHERE r.status = ANY($1::text[])
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""",
        ACTIVE,
    )
    return "runs left active (grouped):\n" + "\n".join(str(dict(r)) for r in rows)


async def test_two_apis_two_workers_thousand_runs(database_url: str) -> None:
    rng = random.Random(20261122)
    env = {**QUICK_STOP, "TURNSTILE_POOL_SIZE": "12"}
    begun = time.monotonic()
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                running_server(database_url, config=GRAPHS, extra_args=API_ONLY, env=env)
            )
            for _ in range(2)
        ]
        workers = [
            stack.enter_context(running_worker(database_url, config=GRAPHS, env=env))
            for _ in range(2)
        ]
        started = time.monotonic()
        async with (
            _client(urls[0]) as client_a,
            _client(urls[1]) as client_b,
            _db(database_url) as sampler_conn,
            _db(database_url) as conn,
        ):
            clients = [client_a, client_b]
            thread_ids = [await _new_thread(clients[i % 2]) for i in range(N_THREADS)]
            jobs = [
                (i, rng.choice(thread_ids), rng.choice(STRATEGIES), rng.choice((0, 0.01, 0.02)))
                for i in range(N_RUNS)
            ]
            jobs.reverse()
            attempts: list[Attempt] = []

            async def submit(k: int) -> None:
                client = clients[k % 2]
                while jobs:
                    i, tid, strategy, sleep = jobs.pop()
                    t0 = time.time()
                    try:
                        run = await client.runs.create(
                            tid,
                            "steps",
                            input={"label": f"r{i}", "sleep": sleep},
                            multitask_strategy=strategy,  # type: ignore[arg-type]
                        )
                    except httpx.HTTPStatusError as exc:
                        attempts.append(
                            Attempt(
                                i,
                                tid,
                                strategy,
                                t0,
                                time.time(),
                                exc.response.status_code,
                                detail=exc.response.text[:300],
                            )
                        )
                    except httpx.HTTPError as exc:
                        attempts.append(
                            Attempt(i, tid, strategy, t0, time.time(), -1, detail=repr(exc))
                        )
                    else:
                        attempts.append(Attempt(i, tid, strategy, t0, time.time(), 200, run=run))

            seen: dict[str, Any] = {
                "samples": 0,
                "max_busy_threads": 0,
                "two_active": [],
                "two_running": [],
            }
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample(sampler_conn, stop, seen))
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(submit(k) for k in range(N_CLIENTS))), timeout=150
                )
                submitted = time.monotonic()
                try:
                    await _until(
                        lambda: conn.fetchval(
                            "SELECT count(*) FROM runs WHERE status = ANY($1::text[])", ACTIVE
                        ),
                        lambda n: n == 0,
                        within=45,
                        what="every run ended",
                        every=0.2,
                    )
                except AssertionError as exc:
                    # APP BUG (see the report): a run whose cancel (from an interrupt or
                    # rollback create) reaches the worker while it is finishing (span 3), or
                    # before its task took its first step (span None), stays 'running' for
                    # ever, its lease renewed, and the runs queued behind it never start.
                    # test_cancel_arriving_while_the_run_finishes_is_not_lost reproduces the
                    # first case deterministically.
                    raise AssertionError(
                        f"{exc}\nsubmitted in {submitted - started:.1f} s\n{await _stuck(conn)}"
                    ) from None
                settled = time.monotonic()
            finally:
                stop.set()
                await sampler

            # The database never showed two active (or two running) runs on one thread.
            assert seen["two_active"] == []
            assert seen["two_running"] == []
            assert seen["samples"] > 20, seen["samples"]

            by_status = Counter(a.status for a in attempts)
            assert len(attempts) == N_RUNS
            assert [a for a in attempts if a.status not in (200, 409)] == [], (
                "unexpected answers (5xx, transport errors, other 4xx)"
            )
            assert [a for a in attempts if a.status == 409 and a.strategy != "reject"] == []

            rows = await conn.fetch(
                "SELECT run_id, thread_id, status, multitask_strategy, created_at, started_at, "
                "ended_at, kwargs->'input'->>'label' AS label, output->'log'->>-1 AS last "
                "FROM runs"
            )
            by_id = {str(r["run_id"]): r for r in rows}
            created = [a for a in attempts if a.status == 200]
            created_ids = {a.run["run_id"] for a in created if a.run}
            assert set(by_id) <= created_ids, "runs in the database that nobody created"
            final = Counter(r["status"] for r in rows)
            assert set(final) <= {"success", "interrupted"}, final
            assert final["error"] == 0
            assert final["timeout"] == 0

            # Every created run ended success/interrupted, or was deleted by a later rollback.
            created_on: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
            for a in created:
                assert a.run is not None
                ts = datetime.fromisoformat(a.run["created_at"]).timestamp()
                created_on[a.thread_id].append((ts, a.run["run_id"], a.strategy))
            deleted: set[str] = set()
            problems: list[str] = []
            for a in created:
                assert a.run is not None
                rid = a.run["run_id"]
                mine = datetime.fromisoformat(a.run["created_at"]).timestamp()
                later = {s for ts, other, s in created_on[a.thread_id] if ts > mine}
                row = by_id.get(rid)
                if row is None:
                    deleted.add(rid)
                    if "rollback" not in later:
                        problems.append(f"run {rid} ({a.strategy}) gone, no later rollback")
                    continue
                if row["status"] == "success":
                    if row["last"] != f"done:r{a.index}":
                        problems.append(f"run {rid} success with log ending {row['last']!r}")
                elif "interrupt" not in later and "rollback" not in later:
                    problems.append(f"run {rid} interrupted, no later interrupt/rollback")
            assert problems == []

            # Each 409 had an active run on its thread during the request.
            verified = unverifiable = 0
            unexplained: list[str] = []
            thread_rows: dict[str, list[asyncpg.Record]] = defaultdict(list)
            for r in rows:
                thread_rows[str(r["thread_id"])].append(r)
            for a in attempts:
                if a.status != 409:
                    continue
                if any(
                    _ts(r["created_at"]) <= a.answered
                    and (r["ended_at"] is None or _ts(r["ended_at"]) >= a.started - ENDED_AT_SLACK)
                    for r in thread_rows[a.thread_id]
                ):
                    verified += 1
                elif any(
                    rid in deleted and ts <= a.answered for ts, rid, _ in created_on[a.thread_id]
                ):
                    unverifiable += 1  # the blocking run may be one a rollback deleted
                else:
                    unexplained.append(
                        f"409 for r{a.index} on {a.thread_id} in [{a.started}, {a.answered}]"
                    )
            assert unexplained == []

            threads = Counter(r["status"] for r in await conn.fetch("SELECT status FROM threads"))
            assert threads == {"idle": N_THREADS}, threads
            assert await conn.fetchval("SELECT count(*) FROM busy_threads") == 0
            assert all(w.poll() is None for w in workers), "a worker process died"
            strategies = Counter(a.strategy for a in attempts)
            created_by = Counter(a.strategy for a in created)
            print(
                f"\n[scale] {N_RUNS} creates over {N_THREADS} threads, {N_CLIENTS} clients, "
                f"2 API + 2 worker processes; strategies {dict(strategies)}"
                f"\n[scale] answers {dict(by_status)}; created by strategy {dict(created_by)}"
                f"\n[scale] final runs {dict(final)}; deleted by rollback {len(deleted)}"
                f"\n[scale] 409s verified {verified}, blocker deleted (unverifiable) "
                f"{unverifiable}"
                f"\n[scale] sampler: {seen['samples']} samples, max busy threads "
                f"{seen['max_busy_threads']}"
                f"\n[scale] processes up {started - begun:.1f}s, submit "
                f"{submitted - started:.1f}s, settle {settled - submitted:.1f}s"
            )


# --- 2. graceful shutdown with real signals ----------------------------------------------


async def test_sigterm_finishes_short_runs_and_hands_back_long_ones(database_url: str) -> None:
    with running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url:
        async with _client(url) as client, _db(database_url) as conn:
            long_tid, short_tid = await _new_thread(client), await _new_thread(client)
            with running_worker(database_url, config=GRAPHS, env=QUICK_STOP) as worker:
                long = await client.runs.create(
                    long_tid, "steps", input={"label": "long", "sleep": 30}
                )
                long_id = long["run_id"]
                row = await _wait_run(conn, long_id, "running")
                assert f":{worker.pid}:" in row["lease_owner"]
                await _wait_executing(conn, long_id)
                short = await client.runs.create(
                    short_tid, "steps", input={"label": "short", "sleep": 0.5}
                )
                short_id = short["run_id"]
                await _wait_run(conn, short_id, "running")
                # Signal once its graph runs: a SIGTERM between a claim and the start of its
                # task is another case (test_sigterm_during_claims_hands_every_run_back).
                await _wait_executing(conn, short_id)
                worker.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(worker.wait, 30)
                assert code == 0, f"worker exited with {code}"

            # The short run finished within the grace; the long one was handed back.
            short_row = await _run_row(conn, short_id)
            assert short_row is not None
            assert short_row["status"] == "success"
            long_row = await _run_row(conn, long_id)
            assert long_row is not None
            assert long_row["status"] == "pending"
            assert long_row["attempt"] == 0
            assert long_row["lease_owner"] is None
            assert long_row["lease_expires_at"] is None
            assert (await client.runs.get(long_tid, long_id))["status"] == "pending"
            assert (await client.threads.get(long_tid))["status"] == "busy"
            result = await client.runs.join(short_tid, short_id)
            assert result["log"] == ["short", "done:short"]

            # A new worker claims it again, as its first counted attempt.
            with running_worker(database_url, config=GRAPHS, env=QUICK_STOP) as worker2:
                row = await _wait_run(conn, long_id, "running")
                assert row["attempt"] == 1
                assert f":{worker2.pid}:" in row["lease_owner"]
                await client.runs.cancel(long_tid, long_id)
                await _wait_run(conn, long_id, "interrupted")


N_BURST = 16
BURST_ROUNDS = 2
# Test instrumentation on this test's own database: a NOTIFY when a claim commits, so the
# SIGTERM reaches the worker right after a claim instead of at a random moment.
CLAIM_TRIGGER = """
CREATE FUNCTION test_notify_claimed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('test_claimed', NEW.lease_owner);
  RETURN NULL;
END $$;
CREATE TRIGGER test_notify_claimed AFTER UPDATE ON runs FOR EACH ROW
  WHEN (OLD.status = 'pending' AND NEW.status = 'running')
  EXECUTE FUNCTION test_notify_claimed();
"""


async def test_sigterm_right_after_a_claim_hands_every_run_back(database_url: str) -> None:
    """SIGTERM the moment a worker's claim commits: every run it claimed must end up handed
    back (``pending``, attempt 0, no lease) -- none left ``running``. The runs wait before
    the worker starts, so its first claim takes them all; the worker is frozen (SIGSTOP)
    as soon as that claim commits, signalled, and thawed, as when a loaded machine
    deschedules it at that moment."""
    with running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url:
        async with _client(url) as client, _db(database_url) as conn, _db(database_url) as lc:
            await conn.execute(CLAIM_TRIGGER)
            outcomes: list[list[dict[str, Any]]] = []
            for _ in range(BURST_ROUNDS):
                tids = [await _new_thread(client) for _ in range(N_BURST)]
                runs = [
                    await client.runs.create(t, "steps", input={"label": "b", "sleep": 30})
                    for t in tids
                ]
                run_ids = [uuid.UUID(r["run_id"]) for r in runs]
                signalled: list[int] = []
                fired = asyncio.Event()

                def on_claim(
                    *args: Any, signalled: list[int] = signalled, fired: Any = fired
                ) -> None:
                    if signalled:
                        return
                    pid = int(str(args[-1]).rsplit(":", 2)[1])  # payload: the lease owner
                    os.kill(pid, signal.SIGSTOP)
                    os.kill(pid, signal.SIGTERM)
                    os.kill(pid, signal.SIGCONT)
                    signalled.append(pid)
                    fired.set()

                await lc.add_listener("test_claimed", on_claim)
                with ExitStack() as stack:
                    # Started from a thread: this loop must be free to get the NOTIFY.
                    worker = await asyncio.to_thread(
                        stack.enter_context,
                        running_worker(database_url, config=GRAPHS, jobs=N_BURST, env=QUICK_STOP),
                    )
                    await asyncio.wait_for(fired.wait(), 30)
                    await lc.remove_listener("test_claimed", on_claim)
                    assert signalled == [worker.pid]
                    code = await asyncio.to_thread(worker.wait, 30)
                    assert code == 0, f"worker exited with {code}"
                rows = await conn.fetch(
                    "SELECT status, attempt, lease_owner IS NOT NULL AS leased, count(*) AS runs "
                    "FROM runs WHERE run_id = ANY($1::uuid[]) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    run_ids,
                )
                outcomes.append([dict(r) for r in rows])
                # Out of the way of the next round's worker.
                await conn.execute(
                    "UPDATE runs SET status = 'interrupted', lease_owner = NULL, "
                    "lease_expires_at = NULL, ended_at = now() WHERE run_id = ANY($1::uuid[])",
                    run_ids,
                )
            print(f"\n[claim+SIGTERM] outcomes per round: {outcomes}")
            # APP BUG (see the report): WorkerPool.stop() cancels the dispatcher task; when
            # that lands after run_rows.claim() committed but before _spawn() (the dispatcher
            # still awaits the claim's result or the pool's connection release), the claimed
            # runs are never executed nor handed back: they stay 'running', attempt 1, leased
            # by a worker that is gone, until their lease expires.
            assert (
                outcomes
                == [[{"status": "pending", "attempt": 0, "leased": False, "runs": N_BURST}]]
                * BURST_ROUNDS
            )


# --- 3. cancel across processes ----------------------------------------------------------

# The worker's housekeeping fallback polls for cancels every lease/3 = 10 s: cancels must
# arrive well before that (through NOTIFY).
CANCEL_DEADLINE = 8.0


async def test_cancel_received_by_api_process_stops_run_in_worker(database_url: str) -> None:
    with (
        running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url,
        running_worker(database_url, config=GRAPHS, env=QUICK_STOP) as worker,
    ):
        async with _client(url) as client, _db(database_url) as conn:
            tid = await _new_thread(client)

            async def started(label: str) -> str:
                run = await client.runs.create(tid, "steps", input={"label": label, "sleep": 30})
                row = await _wait_run(conn, run["run_id"], "running")
                assert f":{worker.pid}:" in row["lease_owner"]
                return str(run["run_id"])

            # cancel (interrupt)
            first = await started("r1")
            await client.runs.cancel(tid, first)
            await _until(
                lambda: client.runs.get(tid, first),
                lambda r: r["status"] == "interrupted",
                within=CANCEL_DEADLINE,
                what="cancelled run interrupted",
            )

            # cancel with action=rollback: the run is deleted
            second = await started("r2")
            await client.runs.cancel(tid, second, action="rollback")

            async def second_exists() -> bool:
                try:
                    await client.runs.get(tid, second)
                except NotFoundError:
                    return False
                return True

            await _until(
                second_exists,
                lambda exists: not exists,
                within=CANCEL_DEADLINE,
                what="rolled-back run deleted",
            )
            assert await _run_row(conn, second) is None
            await _until(
                lambda: client.threads.get(tid),
                lambda t: t["status"] == "idle",
                within=10,
                what="thread idle after rollback",
            )

            # multitask_strategy=interrupt on a thread whose run executes in the worker
            third = await started("r3")
            fourth = await client.runs.create(
                tid, "steps", input={"label": "r4", "sleep": 0}, multitask_strategy="interrupt"
            )
            result = await asyncio.wait_for(client.runs.join(tid, fourth["run_id"]), 30)
            assert result["log"][-2:] == ["r4", "done:r4"]
            assert "r2" not in result["log"]
            assert (await client.runs.get(tid, third))["status"] == "interrupted"
            assert (await client.runs.get(tid, fourth["run_id"]))["status"] == "success"
            assert (await client.threads.get(tid))["status"] == "idle"
            statuses = sorted(r["status"] for r in await client.runs.list(tid))
            assert statuses == ["interrupted", "interrupted", "success"]


async def test_cancel_arriving_while_the_run_finishes_is_not_lost(database_url: str) -> None:
    """A cancel that reaches the worker while the run is already in its finishing
    transaction (the graph has ended) must not strand the run: it ends ``success`` (the
    cancel came too late) or ``interrupted`` -- it is not left ``running`` for ever.

    To hit that moment every time, this test holds the thread row lock (which the finishing
    transaction takes first) and sends the cancel the way an API process does -- the row's
    ``cancel_action`` and a NOTIFY on the cancel channel; the API's own cancel endpoint
    would wait for the same lock."""
    env = {**QUICK_STOP, "TURNSTILE_LEASE_SECONDS": "3"}
    with (
        running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url,
        running_worker(database_url, config=GRAPHS, env=env),
    ):
        async with _client(url) as client, _db(database_url) as conn, _db(database_url) as locker:
            tid = await _new_thread(client)
            run = await client.runs.create(tid, "steps", input={"label": "x", "sleep": 0.5})
            rid = str(run["run_id"])
            await _wait_executing(conn, rid)
            lock = locker.transaction()
            await lock.start()
            try:
                # The same lock as the app's (NO KEY UPDATE: inserts referencing the thread,
                # such as the run's stream events, are not blocked).
                await locker.execute(
                    "SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE",
                    uuid.UUID(tid),
                )
                waiting = (
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%FROM threads%FOR NO KEY UPDATE%'"
                )
                await _until(
                    lambda: conn.fetchval(waiting),
                    lambda n: n >= 1,
                    within=30,
                    what="the run's finishing transaction waits for the thread lock",
                )
                await conn.execute(
                    "UPDATE runs SET cancel_action = 'interrupt', updated_at = now() "
                    "WHERE run_id = $1",
                    uuid.UUID(rid),
                    timeout=10,
                )
                await conn.execute("SELECT pg_notify($1, $2)", RUN_CANCEL, rid, timeout=10)
                # Give the worker the time to act on it (it stops waiting if it cancels).
                with contextlib.suppress(AssertionError):
                    await _until(
                        lambda: conn.fetchval(waiting),
                        lambda n: n == 0,
                        within=3,
                        what="lock wait over",
                    )
            finally:
                await lock.rollback()
            # APP BUG (see the report): the cancel cancels the run's task inside
            # Executor._finish; the CancelledError aborts the finishing transaction and
            # WorkerPool._execute drops the run from _running, but the row stays 'running'
            # and the LeaseKeeper renews its lease for as long as the worker lives: the
            # thread stays busy and the runs queued behind it never start.
            row = await _until(
                lambda: _run_row(conn, rid),
                lambda r: r is not None and r["status"] != "running",
                within=10,
                what="the run ended after a cancel during its finish (lease 3 s)",
            )
            assert row is not None
            assert row["status"] in ("success", "interrupted")
            assert (await client.threads.get(tid))["status"] == "idle"


# --- 4. run timeout ----------------------------------------------------------------------


async def test_run_timeout_in_worker(database_url: str) -> None:
    env = {**QUICK_STOP, "TURNSTILE_RUN_TIMEOUT_SECONDS": "1"}
    with (
        running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url,
        running_worker(database_url, config=GRAPHS, env=env),
    ):
        async with _client(url) as client:
            tid = await _new_thread(client)
            run = await client.runs.create(tid, "steps", input={"label": "slow", "sleep": 5})
            result = await asyncio.wait_for(client.runs.join(tid, run["run_id"]), 30)
            assert set(result) == {"__error__"}, result
            assert result["__error__"]["error"] == "RunTimeout"
            assert "1 s" in result["__error__"]["message"]
            assert (await client.runs.get(tid, run["run_id"]))["status"] == "timeout"
            assert (await client.threads.get(tid))["status"] == "error"


# --- 5. the busy_threads admin view ------------------------------------------------------


async def test_busy_threads_view_shows_worker_and_queue(database_url: str) -> None:
    with (
        running_server(database_url, config=GRAPHS, extra_args=API_ONLY) as url,
        running_worker(database_url, config=GRAPHS, env=QUICK_STOP) as worker,
    ):
        async with _client(url) as client, _db(database_url) as conn:
            tid = await _new_thread(client)
            idle_tid = await _new_thread(client)
            await client.runs.wait(idle_tid, "steps", input={"label": "done"})
            run = await client.runs.create(tid, "steps", input={"label": "long", "sleep": 30})
            rid = run["run_id"]
            await _wait_run(conn, rid, "running")
            queued = [
                await client.runs.create(
                    tid, "steps", input={"label": f"q{i}", "sleep": 0}, multitask_strategy="enqueue"
                )
                for i in range(2)
            ]

            busy = await conn.fetch("SELECT * FROM busy_threads")
            lease = await conn.fetchrow(
                "SELECT lease_owner, started_at FROM runs WHERE run_id = $1", uuid.UUID(rid)
            )
            assert lease is not None
            assert len(busy) == 1, busy
            row = busy[0]
            assert str(row["thread_id"]) == tid
            assert str(row["run_id"]) == rid
            assert row["run_status"] == "running"
            assert row["worker"] == lease["lease_owner"]
            host, pid, _ = row["worker"].rsplit(":", 2)
            assert host == socket.gethostname()
            assert int(pid) == worker.pid
            assert row["attempt"] == 1
            assert row["queued_runs"] == 2
            assert row["since"] == lease["started_at"]
            assert row["lease_expires_at"] is not None

            await client.runs.cancel(tid, rid)
            result = await asyncio.wait_for(client.runs.join(tid, queued[-1]["run_id"]), 30)
            assert result["log"][-2:] == ["q1", "done:q1"]
            assert await conn.fetch("SELECT * FROM busy_threads") == []
