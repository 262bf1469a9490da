"""Turnstile behind a real pgbouncer in ``pool_mode=transaction`` (issue 14, pooler mode).

A private cluster (tests/cluster.py), a pgbouncer in front of it with fewer server
connections than Turnstile's pools hold (tests/pgbouncer.py), and real ``serve`` and
``worker`` processes whose ``DATABASE_URL`` is the pgbouncer's, with
``TURNSTILE_DIRECT_DATABASE_URL`` pointing at the cluster itself (LISTEN and the migrations'
advisory lock). The direct URL carries ``application_name=turnstile-direct``, so the tests can
see on the cluster which sessions are direct. Before pooler mode, nothing worked there:
``prepared statement "__asyncpg_stmt_…" does not exist`` and ``unsupported startup
parameter: synchronous_commit``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError
from langgraph_sdk.schema import StreamPart

from tests.cluster import Cluster, private_cluster
from tests.pgbouncer import Bouncer, pgbouncer
from tests.server import Finished, command, running_server, running_worker

pytestmark = pytest.mark.timeout(180)

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
QUESTION = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}
BUSY = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."
DIRECT_APP = "turnstile-direct"


@dataclass
class Pooled:
    cluster: Cluster
    bouncer: Bouncer

    @property
    def url(self) -> str:
        """Through pgbouncer."""
        return self.bouncer.url("turnstile")

    @property
    def direct_url(self) -> str:
        return self.cluster.url("turnstile") + f"?application_name={DIRECT_APP}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "TURNSTILE_DIRECT_DATABASE_URL": self.direct_url,
            "TURNSTILE_DEMO_TOKEN_DELAY": "0.01",
            **extra,
        }

    def direct_sessions(self) -> list[str]:
        """The last statement of every session on the cluster that came by the direct URL."""
        rows = self.cluster.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = $1 "
            "AND pid <> pg_backend_pid()",
            DIRECT_APP,
        )
        return [r["query"] for r in rows]


@pytest.fixture(scope="module")
def pooled() -> Iterator[Pooled]:
    with private_cluster() as cluster, pgbouncer(cluster, pool_size=8) as bouncer:
        cluster.create_database("turnstile")
        yield Pooled(cluster, bouncer)


@pytest.fixture(scope="module")
def server_url(pooled: Pooled) -> Iterator[str]:
    """``serve`` with its in-process workers, all through pgbouncer; it migrates the
    (empty) database at start, by the direct URL. The pooler mode is detected: a direct URL
    other than DATABASE_URL is given."""
    with running_server(pooled.url, config=GRAPHS, env=pooled.env(), migrate=True) as url:
        yield url


async def _status(client: LangGraphClient, tid: str, rid: str, want: str) -> None:
    deadline = time.monotonic() + 30
    while (await client.runs.get(tid, rid))["status"] != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"run {rid} never reached {want}")
        await asyncio.sleep(0.02)


async def _collect(stream: Any) -> list[StreamPart]:
    return [part async for part in stream]


def _command(*args: str, env: dict[str, str]) -> Finished:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "TURNSTILE_DIRECT_DATABASE_URL", "TURNSTILE_DATABASE_POOLER")
    }
    return command(*args, env={**clean, **env})


def test_transaction_mode_without_a_direct_url_stops_and_says_why(pooled: Pooled) -> None:
    env = {"DATABASE_URL": pooled.url, "TURNSTILE_DATABASE_POOLER": "transaction"}
    for args in (("serve", "--port", "1"), ("worker",), ("db", "upgrade")):
        res = _command(*args, env=env)
        assert res.returncode == 2, (args, res.stderr[-2000:])
        assert "TURNSTILE_DIRECT_DATABASE_URL" in res.stderr, res.stderr[-2000:]
    # Not declared: the probe finds the pgbouncer (it refuses a startup parameter).
    res = _command("serve", "--port", "1", env={"DATABASE_URL": pooled.url})
    assert res.returncode == 2, res.stderr[-2000:]
    assert "a transaction-mode pooler (pgbouncer) is in front" in res.stderr
    assert "TURNSTILE_DIRECT_DATABASE_URL" in res.stderr
    bad = _command("serve", env={**env, "TURNSTILE_DATABASE_POOLER": "session"})
    assert bad.returncode != 0
    assert "TURNSTILE_DATABASE_POOLER is one of auto, transaction, none" in bad.stderr


async def test_seed_scenario_through_the_pooler(client: LangGraphClient, pooled: Pooled) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "agent", input=QUESTION)
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.runs.create(tid, "agent", input=QUESTION, multitask_strategy="reject")
    assert exc.value.response.status_code == 409
    assert exc.value.response.json() == {"detail": BUSY}
    await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    messages = state["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
    assert "San Francisco" in messages[3]["content"]
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    assert (await client.threads.get(tid))["status"] == "idle"

    # enqueue (FIFO)
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "steps", input={"label": "a", "sleep": 0.3})
    await client.runs.create(tid, "steps", input={"label": "b"})
    third = await client.runs.create(
        tid, "steps", input={"label": "c"}, multitask_strategy="enqueue"
    )
    result = await client.runs.join(tid, third["run_id"])
    assert result["log"] == ["a", "done:a", "b", "done:b", "c", "done:c"]
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "success"

    # interrupt: the running run is cancelled, the new one runs
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={"label": "seed"})
    slow = await client.runs.create(tid, "steps", input={"label": "slow", "sleep": 5})
    await _status(client, tid, slow["run_id"], "running")
    new = await client.runs.create(
        tid, "steps", input={"label": "new"}, multitask_strategy="interrupt"
    )
    result = await client.runs.join(tid, new["run_id"])
    assert result["log"] == ["seed", "done:seed", "new", "done:new"]
    assert (await client.runs.get(tid, slow["run_id"]))["status"] == "interrupted"

    # rollback: the superseded run and its checkpoints are gone
    hanging = await client.runs.create(tid, "steps", input={"label": "hang", "sleep": 5})
    await _status(client, tid, hanging["run_id"], "running")
    rolled = await client.runs.create(
        tid, "steps", input={"label": "after"}, multitask_strategy="rollback"
    )
    await client.runs.join(tid, rolled["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, hanging["run_id"])
    history = await client.threads.get_history(tid, limit=100)
    assert hanging["run_id"] not in {h["metadata"].get("run_id") for h in history}
    assert (await client.runs.get(tid, rolled["run_id"]))["status"] == "success"

    # The hub's LISTEN connection is a direct one (and nothing else stays on one).
    sessions = pooled.direct_sessions()
    assert len(sessions) == 1, sessions
    assert sessions[0].startswith("LISTEN"), sessions


async def test_streams_and_joins_through_the_pooler(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    parts = await _collect(
        client.runs.stream(tid, "agent", input=QUESTION, stream_mode=["messages-tuple", "values"])
    )
    names = [p.event for p in parts]
    assert names[0] == "metadata"
    assert set(names) == {"metadata", "messages", "values"}
    assert "San Francisco" in parts[-1].data["messages"][-1]["content"]

    # join_stream with Last-Event-ID: drop mid-run, resume exactly where it stopped
    run = await client.runs.create(
        tid,
        "agent",
        input=QUESTION,
        stream_mode=["messages-tuple", "values"],
        stream_resumable=True,
    )
    rid = run["run_id"]
    first: list[StreamPart] = []
    stream = client.runs.join_stream(tid, rid, last_event_id="-")
    async for part in stream:
        first.append(part)
        if len(first) == 12:
            break
    await stream.aclose()
    rest = await _collect(client.runs.join_stream(tid, rid, last_event_id=first[-1].id))
    everything = await _collect(client.runs.join_stream(tid, rid, last_event_id="-"))
    assert [p.id for p in first + rest] == [p.id for p in everything]
    assert len(everything) > 30

    # the thread stream sees both runs' lifecycle
    tid = (await client.threads.create())["thread_id"]
    seen: list[StreamPart] = []

    async def watch() -> None:
        # From the thread's first event ("-"): no race with the stream's attaching.
        stream = await client.threads.join_stream(tid, stream_mode="lifecycle", last_event_id="-")
        async for part in stream:
            seen.append(part)
            if sum(1 for p in seen if p.data.get("status") == "run_done") == 2:
                return

    watcher = asyncio.ensure_future(watch())
    r1 = await client.runs.wait(tid, "steps", input={"label": "1"})
    r2 = await client.runs.wait(tid, "steps", input={"label": "2"})
    assert r1["log"] == ["1", "done:1"]
    assert r2["log"] == ["1", "done:1", "2", "done:2"]
    await asyncio.wait_for(watcher, 20)
    assert [p.data.get("status") for p in seen] == [None, "run_done", None, "run_done"]


async def test_48_concurrent_waits_and_streams(client: LangGraphClient) -> None:
    async def wait(i: int) -> bool:
        tid = (await client.threads.create())["thread_id"]
        out = await client.runs.wait(tid, "steps", input={"label": f"w{i}", "sleep": 0.05})
        return isinstance(out, dict) and out.get("log") == [f"w{i}", f"done:w{i}"]

    async def stream(i: int) -> bool:
        tid = (await client.threads.create())["thread_id"]
        parts = await _collect(
            client.runs.stream(tid, "steps", input={"label": f"s{i}"}, stream_mode="values")
        )
        return bool(parts) and parts[-1].data.get("log") == [f"s{i}", f"done:s{i}"]

    started = time.monotonic()
    results = await asyncio.gather(
        *(wait(i) for i in range(24)), *(stream(i) for i in range(24)), return_exceptions=True
    )
    print(
        f"\n48 concurrent waits and streams through pgbouncer: {time.monotonic() - started:.2f} s"
    )
    failed = [r for r in results if r is not True]
    assert not failed, failed[:3]


async def test_worker_process_cancel_and_delayed_run_through_the_pooler(pooled: Pooled) -> None:
    """``serve --no-worker`` and a ``turnstile worker``, both through pgbouncer (pooler mode
    set explicitly): the cancel reaches the worker by NOTIFY on its direct LISTEN
    connection, a delayed run starts when due, and runs finish in the worker."""
    env = pooled.env(TURNSTILE_DATABASE_POOLER="transaction")
    before = len(pooled.direct_sessions())
    with (
        running_server(
            pooled.url, config=GRAPHS, extra_args=("--no-worker",), env=env, migrate=True
        ) as url,
        running_worker(pooled.url, config=GRAPHS, jobs=4, env=env),
    ):
        client = get_client(url=url)
        try:
            tid = (await client.threads.create())["thread_id"]
            out = await client.runs.wait(tid, "steps", input={"label": "w"})
            assert out["log"] == ["w", "done:w"]

            slow = await client.runs.create(tid, "steps", input={"label": "slow", "sleep": 30})
            await _status(client, tid, slow["run_id"], "running")
            asked = time.monotonic()
            await client.runs.cancel(tid, slow["run_id"])
            await _status(client, tid, slow["run_id"], "interrupted")
            print(f"\ncancel through NOTIFY: {time.monotonic() - asked:.3f} s")

            created = time.monotonic()
            delayed = await client.runs.create(
                tid, "steps", input={"label": "later", "sleep": 0}, after_seconds=1
            )
            assert delayed["status"] == "pending"
            result = await client.runs.join(tid, delayed["run_id"])
            print(f"delayed run (after_seconds=1) joined after {time.monotonic() - created:.3f} s")
            assert result["log"][-2:] == ["later", "done:later"]
            assert (await client.runs.get(tid, delayed["run_id"]))["status"] == "success"
            # Two processes, two direct sessions: each one's LISTEN connection.
            sessions = pooled.direct_sessions()
            assert len(sessions) == before + 2, sessions
            assert all(s.startswith("LISTEN") for s in sessions), sessions
        finally:
            await client.http.client.aclose()
