"""Runs: batch, cancel_many, after_seconds, join with cancel_on_disconnect (API.md §2.3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


async def _status(client: LangGraphClient, tid: str, rid: str, want: str) -> None:
    for _ in range(300):
        if (await client.runs.get(tid, rid))["status"] == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {rid} never reached {want}")


async def test_batch_creates_stateless_runs(client: LangGraphClient, server_url: str) -> None:
    runs = await client.runs.create_batch(
        [
            {"assistant_id": "steps", "input": {"label": "a"}, "on_completion": "keep"},
            {"assistant_id": "steps", "input": {"label": "b"}, "on_completion": "keep"},
        ]
    )
    assert len(runs) == 2
    assert len({r["thread_id"] for r in runs}) == 2
    for run in runs:
        out = await client.runs.join(run["thread_id"], run["run_id"])
        assert out["log"][-1].startswith("done:")
    async with httpx.AsyncClient(base_url=server_url) as http:
        bad = await http.post(
            "/runs/batch",
            json=[{"assistant_id": "steps"}, {"assistant_id": "steps", "stream_mode": "x"}],
        )
    assert bad.status_code == 422


async def test_cancel_many_by_ids_and_by_status(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "steps", input={"label": "1", "sleep": 30})
    queued = await client.runs.create(tid, "steps", input={"label": "2", "sleep": 30})
    await client.runs.cancel_many(thread_id=tid, run_ids=[first["run_id"], queued["run_id"]])
    await _status(client, tid, first["run_id"], "interrupted")
    await _status(client, tid, queued["run_id"], "interrupted")
    other = await client.threads.create()
    running = await client.runs.create(other["thread_id"], "steps", input={"sleep": 30})
    await _status(client, other["thread_id"], running["run_id"], "running")
    await client.runs.cancel_many(status="running")
    await _status(client, other["thread_id"], running["run_id"], "interrupted")
    async with httpx.AsyncClient(base_url=server_url) as http:
        nothing = await http.post("/runs/cancel", json={"status": "running"})
        both = await http.post(
            "/runs/cancel", json={"status": "all", "thread_id": tid, "run_ids": [first["run_id"]]}
        )
    assert nothing.status_code == 404
    assert nothing.json() == {"detail": "No runs found to cancel."}
    assert both.status_code == 422


async def test_after_seconds_delays_the_start(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    t0 = time.monotonic()
    run = await client.runs.create(tid, "steps", input={"label": "later"}, after_seconds=1)
    await asyncio.sleep(0.5)
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "pending"
    out = await client.runs.join(tid, run["run_id"])
    assert out["log"] == ["later", "done:later"]
    assert time.monotonic() - t0 >= 1.0  # not started before its time


async def test_join_cancel_on_disconnect(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, "steps", input={"sleep": 30})
    async with httpx.AsyncClient(base_url=server_url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(
                f"/threads/{tid}/runs/{run['run_id']}/join",
                params={"cancel_on_disconnect": "true"},
                timeout=0.5,
            )
    await _status(client, tid, run["run_id"], "interrupted")
