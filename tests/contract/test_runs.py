"""Runs and the multitask strategies through the official SDK (API.md §4-5, issue 3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
BUSY = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(
        module_database_url, config=GRAPHS, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0.01"}
    ) as url:
        yield url


async def _wait_status(client: LangGraphClient, tid: str, rid: str, status: str) -> None:
    for _ in range(200):
        if (await client.runs.get(tid, rid))["status"] == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {rid} never reached {status}")


async def test_seed_scenario(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(
        thread["thread_id"],
        "agent",
        input={"messages": [{"role": "user", "content": "what's the weather in sf?"}]},
    )
    assert run["status"] == "pending"
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.runs.create(
            thread["thread_id"],
            "agent",
            input={"messages": [{"role": "user", "content": "what's the weather in nyc?"}]},
            multitask_strategy="reject",
        )
    assert exc.value.response.status_code == 409
    assert exc.value.response.json() == {"detail": BUSY}
    await client.runs.join(thread["thread_id"], run["run_id"])
    state = await client.threads.get_state(thread["thread_id"])
    messages = state["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
    assert messages[1]["tool_calls"][0]["args"] == {"query": "weather in san francisco"}
    assert "San Francisco" in messages[3]["content"]
    done = await client.runs.get(thread["thread_id"], run["run_id"])
    assert done["status"] == "success"
    thread = await client.threads.get(thread["thread_id"])
    assert thread["status"] == "idle"
    assert thread["metadata"]["graph_id"] == "agent"
    assert thread["metadata"]["assistant_id"] == run["assistant_id"]
    assert [r["run_id"] for r in await client.runs.list(thread["thread_id"])] == [run["run_id"]]


async def test_reject_while_running(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "steps", input={"label": "a", "sleep": 1})
    await _wait_status(client, thread["thread_id"], run["run_id"], "running")
    with pytest.raises(ConflictError):
        await client.runs.create(
            thread["thread_id"], "steps", input={"label": "b"}, multitask_strategy="reject"
        )
    assert (await client.threads.get(thread["thread_id"]))["status"] == "busy"
    result = await client.runs.join(thread["thread_id"], run["run_id"])
    assert result["log"] == ["a", "done:a"]
    assert len(await client.runs.list(thread["thread_id"])) == 1


async def test_enqueue_is_the_default_and_fifo(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = await client.runs.create(tid, "steps", input={"label": "a", "sleep": 0.3})
    second = await client.runs.create(tid, "steps", input={"label": "b"})
    third = await client.runs.create(
        tid, "steps", input={"label": "c"}, multitask_strategy="enqueue"
    )
    assert second["multitask_strategy"] == "enqueue"
    assert second["status"] == "pending"
    result = await client.runs.join(tid, third["run_id"])
    assert result["log"] == ["a", "done:a", "b", "done:b", "c", "done:c"]
    for run in (first, second, third):
        assert (await client.runs.get(tid, run["run_id"]))["status"] == "success"
    listed = await client.runs.list(tid)
    assert [r["run_id"] for r in listed] == [third["run_id"], second["run_id"], first["run_id"]]
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_interrupt_cancels_inflight_and_continues(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    seed = await client.runs.wait(tid, "steps", input={"label": "seed"})
    assert seed["log"] == ["seed", "done:seed"]
    slow = await client.runs.create(tid, "steps", input={"label": "slow", "sleep": 5})
    await _wait_status(client, tid, slow["run_id"], "running")
    queued = await client.runs.create(tid, "steps", input={"label": "queued"})
    new = await client.runs.create(
        tid, "steps", input={"label": "new"}, multitask_strategy="interrupt"
    )
    result = await client.runs.join(tid, new["run_id"])
    assert (await client.runs.get(tid, slow["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, queued["run_id"]))["status"] == "interrupted"
    assert (await client.runs.get(tid, new["run_id"]))["status"] == "success"
    assert result["log"] == ["seed", "done:seed", "new", "done:new"]
    assert len(await client.runs.list(tid)) == 4


async def test_rollback_deletes_superseded_runs_and_checkpoints(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "steps", input={"label": "seed"})
    slow = await client.runs.create(tid, "steps", input={"label": "slow", "sleep": 0.2})
    await client.runs.join(tid, slow["run_id"])
    # a run that has written checkpoints and is still running when superseded
    long = await client.runs.create(tid, "ask", input={"label": "x"})
    await client.runs.join(tid, long["run_id"])
    hanging = await client.runs.create(tid, "steps", input={"label": "hang", "sleep": 5})
    await _wait_status(client, tid, hanging["run_id"], "running")
    new = await client.runs.create(
        tid, "steps", input={"label": "new"}, multitask_strategy="rollback"
    )
    await client.runs.join(tid, new["run_id"])
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, hanging["run_id"])
    history = await client.threads.get_history(tid, limit=100)
    run_ids = {h["metadata"].get("run_id") for h in history}
    assert hanging["run_id"] not in run_ids
    assert new["run_id"] in run_ids
    assert (await client.runs.get(tid, new["run_id"]))["status"] == "success"


async def test_cancel_running_and_pending_with_both_actions(
    server_url: str, client: LangGraphClient
) -> None:
    tid = (await client.threads.create())["thread_id"]
    running = await client.runs.create(tid, "steps", input={"label": "r", "sleep": 5})
    pending = await client.runs.create(tid, "steps", input={"label": "p"})
    pending2 = await client.runs.create(tid, "steps", input={"label": "p2"})
    await _wait_status(client, tid, running["run_id"], "running")
    for _ in range(200):  # the running run is inside its slow step ("work" next)
        if (await client.threads.get_state(tid))["next"] == ["work"]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the run never reached its work step")
    await client.runs.cancel(tid, pending["run_id"])  # interrupt a queued run
    assert (await client.runs.get(tid, pending["run_id"]))["status"] == "interrupted"
    await client.runs.cancel(tid, pending2["run_id"], action="rollback")
    with pytest.raises(NotFoundError):
        await client.runs.get(tid, pending2["run_id"])
    out = await client.runs.cancel(tid, running["run_id"], wait=True)
    assert out == {}  # a cancelled run's output (API.md §5.4)
    assert (await client.runs.get(tid, running["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] == "interrupted"  # "work" still next
    with pytest.raises(NotFoundError):
        await client.runs.cancel(tid, running["run_id"])
    async with httpx.AsyncClient(base_url=server_url) as http:
        again = await client.runs.create(tid, "steps", input={"label": "z", "sleep": 5})
        r = await http.post(
            f"/threads/{tid}/runs/{again['run_id']}/cancel", params={"action": "rollback"}
        )
        assert r.status_code == 202
        for _ in range(200):  # deleted once it stopped
            if (await http.get(f"/threads/{tid}/runs/{again['run_id']}")).status_code == 404:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the rolled-back run was not deleted")
        r = await http.post(f"/threads/{tid}/runs/{again['run_id']}/cancel")
        assert r.status_code == 404
        # cancel?wait=1 answers 200 with the output once the run stopped (the JS SDK reads
        # the body only then), whether it stopped quickly or not.
        last = await client.runs.create(tid, "steps", input={"label": "w", "sleep": 5})
        await _wait_status(client, tid, last["run_id"], "running")
        r = await http.post(f"/threads/{tid}/runs/{last['run_id']}/cancel", params={"wait": "1"})
        assert r.status_code == 200
        assert r.json() == {}


async def test_wait_and_join_bodies(client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    ok = await client.runs.wait(tid, "steps", input={"label": "ok"})
    assert ok["log"] == ["ok", "done:ok"]
    failed = await client.runs.wait(tid, "fail", input={"label": "f"}, raise_error=False)
    assert failed == {"__error__": {"error": "ValueError", "message": "boom: f"}}
    thread = await client.threads.get(tid)
    assert thread["status"] == "error"
    assert thread["error"] == {"error": "ValueError", "message": "boom: f"}

    tid2 = (await client.threads.create())["thread_id"]
    asked = await client.runs.wait(tid2, "ask", input={"label": "q"})
    assert asked["label"] == "q"
    assert asked["__interrupt__"][0]["value"] == {"question": "continue?"}
    thread2 = await client.threads.get(tid2)
    assert thread2["status"] == "interrupted"
    assert next(iter(thread2["interrupts"].values()))[0]["value"] == {"question": "continue?"}
    state = await client.threads.get_state(tid2)
    assert state["next"] == ["ask"]
    assert state["interrupts"][0]["value"] == {"question": "continue?"}
    resumed = await client.runs.wait(tid2, "ask", command={"resume": "yes"})
    assert resumed["answer"] == "yes"
    assert (await client.threads.get(tid2))["status"] == "idle"
    runs = await client.runs.list(tid2)
    assert all(r["status"] == "success" for r in runs)

    before = await client.runs.wait(
        (await client.threads.create())["thread_id"],
        "steps",
        input={"label": "b"},
        interrupt_before=["finish"],
    )
    assert before["log"] == ["b"]

    missing = await client.runs.join(tid, str(uuid.uuid4()))
    assert missing == {"__error__": {"error": "HTTPException", "message": "404: Run not found"}}


async def test_stateless_runs_leave_no_thread(server_url: str, client: LangGraphClient) -> None:
    before = await client.threads.count()
    out = await client.runs.wait(None, "steps", input={"label": "s"})
    assert out["log"] == ["s", "done:s"]
    assert await client.threads.count() == before
    kept = await client.runs.wait(None, "steps", input={"label": "k"}, on_completion="keep")
    assert kept["log"] == ["k", "done:k"]
    assert await client.threads.count() == before + 1
    bg = await client.runs.create(None, "steps", input={"label": "bg"})
    for _ in range(100):
        if await client.threads.count() == before + 1:
            break
        await asyncio.sleep(0.05)
    assert await client.threads.count() == before + 1
    assert bg["run_id"]
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post("/runs/wait", json={"assistant_id": "ask", "command": {"resume": "x"}})
        assert r.status_code == 400


async def test_headers_and_bad_input(server_url: str, client: LangGraphClient) -> None:
    tid = (await client.threads.create())["thread_id"]
    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "steps", "input": {}})
        run = r.json()
        assert r.headers["content-location"] == f"/threads/{tid}/runs/{run['run_id']}"
        r = await http.post(
            f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {}}
        )
        assert r.headers["location"].endswith("/join")
        r = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "nope"})
        assert r.status_code == 422
        assert r.json()["detail"].startswith("Invalid assistant: 'nope'")
        r = await http.post(f"/threads/{tid}/runs", json={"assistant_id": str(uuid.uuid4())})
        assert (r.status_code, r.json()) == (404, {"detail": "Thread or assistant not found."})
        r = await http.post(f"/threads/{uuid.uuid4()}/runs", json={"assistant_id": "steps"})
        assert (r.status_code, r.json()) == (404, {"detail": "Thread or assistant not found."})
        r = await http.post(
            f"/threads/{tid}/runs", json={"assistant_id": "steps", "webhook": "http://x"}
        )
        assert r.status_code == 422
        assert "webhook" in r.json()["detail"].lower()
        r = await http.post(
            f"/threads/{tid}/runs",
            json={
                "assistant_id": "steps",
                "context": {"a": 1},
                "config": {"configurable": {"b": 2}},
            },
        )
        assert r.status_code == 400
        r = await http.post(
            f"/threads/{tid}/runs", json={"assistant_id": "steps", "stream_mode": "tools"}
        )
        assert r.status_code == 422
    new_tid = str(uuid.uuid4())
    run = await client.runs.create(new_tid, "steps", input={"label": "n"}, if_not_exists="create")
    assert run["thread_id"] == new_tid
    await client.runs.join(new_tid, run["run_id"])


async def test_100_concurrent_rejects(client: LangGraphClient, module_database_url: str) -> None:
    tid = (await client.threads.create())["thread_id"]

    async def one() -> int:
        try:
            await client.runs.create(
                tid, "steps", input={"label": "x", "sleep": 30}, multitask_strategy="reject"
            )
        except httpx.HTTPStatusError as exc:
            return exc.response.status_code
        return 200

    # The accepted run outlives the 100 creates however slow the machine is (it is
    # cancelled below): each of the other 99 meets a busy thread.
    codes = await asyncio.gather(*(one() for _ in range(100)))
    conn = await asyncpg.connect(module_database_url)
    try:
        rids = await conn.fetch("SELECT run_id FROM runs WHERE thread_id = $1", uuid.UUID(tid))
    finally:
        await conn.close()
    for row in rids:
        await client.runs.cancel(tid, str(row["run_id"]), wait=True)
    assert sorted(codes).count(200) == 1
    assert codes.count(409) == 99
    assert len(rids) == 1


async def test_100_concurrent_enqueues(client: LangGraphClient, module_database_url: str) -> None:
    tid = (await client.threads.create())["thread_id"]
    labels = [f"r{i:03d}" for i in range(100)]
    conn = await asyncpg.connect(module_database_url)
    sampler_conn = await asyncpg.connect(module_database_url)
    max_running = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal max_running
        while not stop.is_set():
            n = await sampler_conn.fetchval(
                "SELECT count(*) FROM runs WHERE thread_id = $1 AND status = 'running'",
                uuid.UUID(tid),
            )
            max_running = max(max_running, n)
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        runs = await asyncio.gather(
            *(client.runs.create(tid, "steps", input={"label": label}) for label in labels)
        )
        assert len(runs) == 100
        order = await conn.fetch(
            "SELECT run_id FROM runs WHERE thread_id = $1 ORDER BY created_at, run_id",
            uuid.UUID(tid),
        )
        last = str(order[-1]["run_id"])
        await client.runs.join(tid, last)
        stop.set()
        await sampler
        statuses = await conn.fetch("SELECT status FROM runs WHERE thread_id = $1", uuid.UUID(tid))
        assert {r["status"] for r in statuses} == {"success"}
        by_id = {r["run_id"]: r["kwargs"]["input"]["label"] for r in runs}
        expected = [by_id[str(r["run_id"])] for r in order]
    finally:
        stop.set()
        await conn.close()
        await sampler_conn.close()
    assert max_running == 1
    state = await client.threads.get_state(tid)
    executed = [entry for entry in state["values"]["log"] if not entry.startswith("done:")]
    assert executed == expected


async def test_a_run_as_the_reference_shows_it(client: LangGraphClient) -> None:
    """Its graph's id in its metadata from the thread's first run on, ``checkpoint_during``
    true when the request left it out, and ``langsmith_session_name`` (bench/differential.py)."""
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "steps", input={"label": "g"})
    assert run["metadata"]["graph_id"] == "steps"
    assert run["kwargs"]["checkpoint_during"] is True
    assert run["langsmith_session_name"] is None
    await client.runs.join(tid, run["run_id"])
    mine = await client.runs.create(tid, "steps", input={}, metadata={"graph_id": "mine"})
    assert mine["metadata"]["graph_id"] == "mine"  # the request's metadata wins, as there
    await client.runs.join(tid, mine["run_id"])


async def test_fork_from_checkpoint_metadata_and_command(client: LangGraphClient) -> None:
    tid = (await client.threads.create(metadata={"owner": "ann"}))["thread_id"]
    await client.runs.wait(tid, "steps", input={"label": "a"})
    await client.runs.wait(tid, "steps", input={"label": "b"})
    history = await client.threads.get_history(tid, limit=50)
    after_a = next(
        h for h in history if h["values"].get("log") == ["a", "done:a"] and not h["next"]
    )
    forked = await client.runs.wait(
        tid, "steps", input={"label": "c"}, checkpoint_id=after_a["checkpoint_id"]
    )
    assert forked["log"] == ["a", "done:a", "c", "done:c"]

    run = await client.runs.create(
        tid, "steps", input={"label": "m"}, metadata={"source": "test"}, config={"tags": ["t1"]}
    )
    assert run["metadata"]["source"] == "test"
    assert run["metadata"]["owner"] == "ann"
    assert run["metadata"]["assistant_id"] == run["assistant_id"]
    assert run["kwargs"]["config"]["tags"] == ["t1"]
    assert run["kwargs"]["stream_mode"] == ["values"]
    await client.runs.join(tid, run["run_id"])

    # command.update writes state without input; goto jumps to a node
    updated = await client.runs.wait(
        tid, "steps", command={"update": {"log": ["u"]}, "goto": "finish"}
    )
    assert updated["log"][-2:] == ["u", "done:m"]


async def test_a_run_shows_its_assistants_configurable_in_the_thread_config(
    client: LangGraphClient,
) -> None:
    """As the reference: after a run the thread's config has the assistant's
    ``configurable`` (not the run's own), replaced by the next run's assistant."""
    tid = (await client.threads.create())["thread_id"]
    assert (await client.threads.get(tid))["config"] == {}
    await client.runs.wait(tid, "steps", input={"label": "a"}, config={"configurable": {"x": 1}})
    assert (await client.threads.get(tid))["config"] == {"configurable": {}}
    assistant = await client.assistants.create("steps", config={"configurable": {"k": 1}})
    await client.runs.wait(tid, assistant["assistant_id"], input={"label": "b"})
    assert (await client.threads.get(tid))["config"] == {"configurable": {"k": 1}}


async def test_without_custom_auth_a_run_gets_the_empty_user_keys(client: LangGraphClient) -> None:
    """As the reference: a graph that reads the user keys by name runs without custom auth."""
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "single", input={"label": "u"})
    configurable = run["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user"] is None
    assert configurable["langgraph_auth_user_id"] == ""
    assert configurable["langgraph_auth_permissions"] == []
    await client.runs.join(tid, run["run_id"])
