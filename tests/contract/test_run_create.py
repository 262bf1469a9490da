"""Run creation through the official SDK: the one-statement path (reject and enqueue on an
existing thread) and the general one (missing thread, interrupt), what a run inherits from
its assistant and thread, and what a create-and-stream sends first (API.md §5.1, §6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server, running_worker

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


async def test_a_run_sees_the_assistant_as_it_is_now(client: LangGraphClient) -> None:
    """The server remembers assistants between creates; a PATCH in between is seen."""
    assistant = await client.assistants.create(
        "steps", config={"configurable": {"tone": "first"}}, metadata={"team": "a"}
    )
    aid = assistant["assistant_id"]
    tid = (await client.threads.create(metadata={"owner": "t", "team": "thread"}))["thread_id"]
    first = await client.runs.create(tid, aid, input={"label": "1"}, metadata={"x": 1})
    await client.runs.join(tid, first["run_id"])
    await client.assistants.update(
        aid, config={"configurable": {"tone": "second"}}, metadata={"team": "b"}
    )
    second = await client.runs.create(tid, aid, input={"label": "2"})
    await client.runs.join(tid, second["run_id"])
    got1 = await client.runs.get(tid, first["run_id"])
    got2 = await client.runs.get(tid, second["run_id"])
    assert got1["kwargs"]["config"]["configurable"]["tone"] == "first"
    assert got2["kwargs"]["config"]["configurable"]["tone"] == "second"
    # Metadata: the assistant's, then the thread's, then the run's own (later wins).
    assert got1["metadata"]["team"] == "thread"
    assert got1["metadata"]["owner"] == "t"
    assert got1["metadata"]["x"] == 1
    assert got1["metadata"]["assistant_id"] == aid
    await client.assistants.delete(aid)
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, aid, input={"label": "3"})
    assert err.value.response.status_code == 404


async def test_reject_and_enqueue_on_a_busy_thread(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    busy = await client.runs.create(tid, "steps", input={"label": "a", "sleep": 0.5})
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "steps", input={"label": "b"}, multitask_strategy="reject")
    assert err.value.response.status_code == 409
    assert err.value.response.json()["detail"]
    queued = [await client.runs.create(tid, "steps", input={"label": f"q{i}"}) for i in range(3)]
    assert all(r["status"] == "pending" for r in queued)  # queued shows as pending
    for run in queued:
        await client.runs.join(tid, run["run_id"])
    state = await client.threads.get_state(tid)
    assert state["values"]["log"] == [
        "a",
        "done:a",
        "q0",
        "done:q0",
        "q1",
        "done:q1",
        "q2",
        "done:q2",
    ]
    runs = await client.runs.list(tid)
    assert {r["status"] for r in runs} == {"success"}
    assert (await client.threads.get(tid))["status"] == "idle"
    assert busy["run_id"] not in {r["run_id"] for r in queued}


async def test_missing_thread_hidden_assistant_and_if_not_exists(
    client: LangGraphClient,
) -> None:
    missing = "00000000-0000-7000-8000-000000000001"
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(missing, "steps", input={"label": "x"})
    assert err.value.response.status_code == 404
    run = await client.runs.create(missing, "steps", input={"label": "x"}, if_not_exists="create")
    out = await client.runs.join(missing, run["run_id"])
    assert out["log"] == ["x", "done:x"]
    tid = (await client.threads.create())["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "00000000-0000-4000-8000-000000000002", input={})
    assert err.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "no-such-graph", input={})
    assert err.value.response.status_code == 422


async def test_concurrent_enqueues_run_one_at_a_time_in_order(client: LangGraphClient) -> None:
    """Twenty concurrent creates on one thread: one active run at a time, each completes,
    and the thread ends idle."""
    tid = (await client.threads.create())["thread_id"]
    runs = await asyncio.gather(
        *(client.runs.create(tid, "steps", input={"label": f"c{i}"}) for i in range(20))
    )
    await asyncio.gather(*(client.runs.join(tid, r["run_id"]) for r in runs))
    listed = await client.runs.list(tid, limit=50)
    assert len(listed) == 20
    assert {r["status"] for r in listed} == {"success"}
    log = (await client.threads.get_state(tid))["values"]["log"]
    # Each run's two steps are adjacent: no two runs interleaved.
    assert [log[i + 1] for i in range(0, 40, 2)] == [f"done:{log[i]}" for i in range(0, 40, 2)]


async def test_a_create_and_stream_starts_with_one_metadata_event(
    server_url: str, client: LangGraphClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    parts = [
        p
        async for p in client.runs.stream(tid, "single", input={"label": "s"}, stream_mode="values")
    ]
    assert parts[0].event == "metadata"
    assert parts[0].data["attempt"] == 1
    assert [p.event for p in parts].count("metadata") == 1
    assert parts[-1].data["log"] == ["s"]
    # A resumable stream reads the worker's own metadata event (with its id).
    parts = [
        p
        async for p in client.runs.stream(
            tid, "single", input={"label": "r"}, stream_mode="values", stream_resumable=True
        )
    ]
    assert [p.event for p in parts].count("metadata") == 1
    assert parts[0].event == "metadata"


async def test_delayed_run_created_by_an_api_process_starts_on_time_in_a_worker(
    module_database_url: str,
) -> None:
    """after_seconds across processes: an API-only process creates it, a worker runs it."""
    from langgraph_sdk import get_client

    with (
        running_server(module_database_url, config=GRAPHS, extra_args=("--workers", "0")) as url,
        running_worker(module_database_url, config=GRAPHS, jobs=2),
    ):
        client = get_client(url=url)
        tid = (await client.threads.create())["thread_id"]
        t0 = time.monotonic()
        run = await client.runs.create(tid, "single", input={"label": "d"}, after_seconds=0.5)
        out = await client.runs.join(tid, run["run_id"])
        elapsed = time.monotonic() - t0
        assert out["log"] == ["d"]
        assert elapsed >= 0.5  # not started before its time
        started = (await client.runs.get(tid, run["run_id"]))["status"]
        assert started == "success"
