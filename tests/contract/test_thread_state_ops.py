"""update_state, copy and prune through the official SDK (API.md §2.2)."""

from __future__ import annotations

import asyncio
import uuid
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


async def test_update_state_as_node_and_thread_stream(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"label": "a"})
    seen: list = []

    async def watch() -> None:
        async for part in await client.threads.join_stream(tid, stream_mode="state_update"):
            seen.append(part)
            return

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.3)
    result = await client.threads.update_state(tid, {"log": ["manual"]}, as_node="finish")
    assert result["checkpoint"]["thread_id"] == tid
    assert result["checkpoint"]["checkpoint_id"]
    state = await client.threads.get_state(tid)
    assert state["values"]["log"] == ["a", "done:a", "manual"]
    assert state["checkpoint"]["checkpoint_id"] == result["checkpoint"]["checkpoint_id"]
    assert state["metadata"]["source"] == "update"
    assert (await client.threads.get(tid))["values"]["log"][-1] == "manual"
    await asyncio.wait_for(watcher, 10)
    assert seen[0].event == "state_update"
    assert seen[0].data["thread_id"] == tid
    assert seen[0].data["state"]["values"]["log"][-1] == "manual"
    # A fork: update from an earlier checkpoint leaves the latest branch alone.
    history = await client.threads.get_history(tid, limit=10)
    first_done = next(h for h in history if h["values"].get("log") == ["a", "done:a"])
    fork = await client.threads.update_state(
        tid, {"log": ["fork"]}, as_node="finish", checkpoint_id=first_done["checkpoint_id"]
    )
    forked = await client.threads.get_state(tid, checkpoint_id=fork["checkpoint"]["checkpoint_id"])
    assert forked["values"]["log"] == ["a", "done:a", "fork"]
    assert forked["parent_checkpoint"]["checkpoint_id"] == first_done["checkpoint_id"]


async def test_update_state_conflicts_and_errors(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.threads.update_state(tid, {"log": ["x"]})
    assert exc.value.response.status_code == 400  # no graph yet
    run = await client.runs.create(tid, "steps", input={"label": "b", "sleep": 30})
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.threads.update_state(tid, {"log": ["x"]}, as_node="finish")
    assert exc.value.response.status_code == 409
    await client.runs.cancel(tid, run["run_id"], wait=True)
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.threads.update_state(str(uuid.uuid4()), {"log": ["x"]})
    assert exc.value.response.status_code == 404


async def test_resume_an_interrupt_after_update(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "ask", input={"label": "q"})
    assert (await client.threads.get(tid))["status"] == "interrupted"
    out = await client.runs.wait(tid, "ask", command={"resume": "yes"})
    assert out["answer"] == "yes"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_copy_and_prune(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create(metadata={"owner": "me"})
    tid = thread["thread_id"]
    await client.runs.wait(tid, "steps", input={"label": "c"})
    await client.runs.wait(tid, "steps", input={"label": "d"})
    copy = await client.threads.copy(tid)
    assert copy["thread_id"] != tid
    assert copy["metadata"]["owner"] == "me"
    assert copy["status"] == "idle"
    original = await client.threads.get_history(tid, limit=50)
    copied = await client.threads.get_history(copy["thread_id"], limit=50)
    assert [h["checkpoint_id"] for h in copied] == [h["checkpoint_id"] for h in original]
    assert copied[0]["values"] == original[0]["values"]
    # Checkpoint metadata names its thread, and the copy's names the copy (the reference).
    assert {h["metadata"]["thread_id"] for h in original} == {tid}
    assert {h["metadata"]["thread_id"] for h in copied} == {copy["thread_id"]}
    # The copy goes on independently.
    await client.runs.wait(copy["thread_id"], "steps", input={"label": "e"})
    assert (await client.threads.get_state(tid))["values"]["log"][-1] == "done:d"
    async with httpx.AsyncClient(base_url=server_url) as http:
        missing = await http.post(f"/threads/{uuid.uuid4()}/copy")
    assert missing.status_code == 409
    # keep_latest leaves one checkpoint; delete removes threads.
    result = await client.threads.prune([tid], strategy="keep_latest")
    assert result == {"pruned_count": 1}
    assert len(await client.threads.get_history(tid, limit=50)) == 1
    assert (await client.threads.get_state(tid))["values"]["log"][-1] == "done:d"
    result = await client.threads.prune([tid, copy["thread_id"], str(uuid.uuid4())])
    assert result == {"pruned_count": 2}
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.threads.get(tid)
    assert exc.value.response.status_code == 404


async def test_storage(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=server_url) as http:
        empty = (await http.get(f"/threads/{tid}/storage")).json()
        await client.runs.wait(tid, "steps", input={"label": "s" * 1000})
        used = (await http.get(f"/threads/{tid}/storage")).json()
        missing = await http.get(f"/threads/{uuid.uuid4()}/storage")
    assert empty["total_bytes"] == 0
    assert empty["checkpoints"] == {"count": 0, "bytes": 0}
    assert used["thread_id"] == tid
    assert used["checkpoints"]["count"] >= 3
    assert used["channel_values"]["bytes"] > 1000
    assert used["total_bytes"] == sum(
        used[k]["bytes"] for k in ("checkpoints", "channel_values", "pending_writes")
    )
    assert missing.status_code == 404


async def test_supersteps_prepopulate_a_new_thread(
    client: LangGraphClient, server_url: str
) -> None:
    thread = await client.threads.create(
        graph_id="steps",
        supersteps=[
            {"updates": [{"values": {"log": ["one"]}, "as_node": "work"}]},
            {"updates": [{"values": {"log": ["two"]}, "as_node": "finish"}]},
        ],
    )
    tid = thread["thread_id"]
    assert thread["values"] == {"log": ["one", "two"]}
    history = await client.threads.get_history(tid, limit=10)
    assert [h["values"].get("log") for h in history][:2] == [["one", "two"], ["one"]]
    async with httpx.AsyncClient(base_url=server_url) as http:
        no_graph = await http.post(
            "/threads", json={"supersteps": [{"updates": [{"values": {"log": ["x"]}}]}]}
        )
        bad_node = await http.post(
            "/threads",
            json={
                "metadata": {"graph_id": "steps", "mark": "bad-node"},
                "supersteps": [{"updates": [{"values": {"log": ["x"]}, "as_node": "nope"}]}],
            },
        )
    assert no_graph.status_code == 400
    assert bad_node.status_code == 400
    assert await client.threads.count(metadata={"mark": "bad-node"}) == 0  # nothing left


async def test_concurrent_resumes_resume_once(client: LangGraphClient) -> None:
    """Two clients resume the same interrupt at once: one resumes it, the other (queued
    behind it, strict_resume) finds nothing waiting and fails; the node ran once."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "ask", input={"label": "q"})
    runs = await asyncio.gather(
        client.runs.create(tid, "ask", command={"resume": "a"}, strict_resume=True),
        client.runs.create(tid, "ask", command={"resume": "b"}, strict_resume=True),
    )
    outs = [await client.runs.join(tid, r["run_id"]) for r in runs]
    resumed = [o for o in outs if "__error__" not in o]
    failed = [o for o in outs if "__error__" in o]
    assert len(resumed) == 1
    assert resumed[0]["answer"] in ("a", "b")
    assert [f["__error__"]["error"] for f in failed] == ["UnknownInterruptError"]
    state = await client.threads.get_state(tid)
    assert state["values"]["log"].count("asked") == 1
    assert state["values"]["answer"] == resumed[0]["answer"]
    assert (await client.threads.get(tid))["status"] == "error"  # the last run failed
