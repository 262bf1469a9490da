"""Protocol v2 thread streaming through the official SDK (``client.threads.stream()``,
API.md §2.6) against real server processes: commands, the SSE of v2 events, resume with
``since``, double-texting, a second API process, and the commands' error codes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.pg import create_database, drop_database
from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
AUTH = str(Path(__file__).resolve().parents[1] / "graphs" / "v2auth" / "langgraph.json")
QUESTION = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}
ALL = ["values", "updates", "messages", "tools", "lifecycle", "input", "tasks", "custom"]
DEADLINE = 20.0


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(
        module_database_url, config=GRAPHS, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0"}
    ) as url:
        yield url


@pytest.fixture(scope="module")
def auth_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A server with custom auth (tests/graphs/v2auth), on a database of its own."""
    url = create_database(pg_admin_url, template=template_database)
    try:
        with running_server(url, config=AUTH) as base:
            yield base
    finally:
        drop_database(pg_admin_url, url)


async def _command(
    http: httpx.AsyncClient, tid: str, method: str, params: Any, cid: int = 1
) -> dict[str, Any]:
    r = await http.post(
        f"/threads/{tid}/commands", json={"id": cid, "method": method, "params": params}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["id"] == cid
    return body


async def _events(
    http: httpx.AsyncClient, tid: str, body: dict[str, Any], *, until: str = "completed"
) -> AsyncIterator[dict[str, Any]]:
    """The stream's events (checking each frame's shape) until the root lifecycle ``until``."""
    async with http.stream("POST", f"/threads/{tid}/stream/events", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        async for line in r.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(": ")
                frame[key] = value
                continue
            if not frame:
                continue
            event = json.loads(frame["data"])
            assert frame["event"] == event["method"]
            assert frame["id"] == str(event["seq"])
            assert event["type"] == "event"
            assert isinstance(event["params"]["timestamp"], int)
            frame = {}
            yield event
            data = event["params"]["data"]
            if (
                event["method"] == "lifecycle"
                and not event["params"]["namespace"]
                and data["event"] == until
            ):
                return


async def _collect(
    http: httpx.AsyncClient, tid: str, body: dict[str, Any], until: str = "completed"
) -> list[dict[str, Any]]:
    async with asyncio.timeout(DEADLINE):
        return [e async for e in _events(http, tid, body, until=until)]


async def _interrupted(thread: Any) -> None:
    """Wait until the SDK's lifecycle watcher saw the interrupt (it has no event for it)."""
    while not thread.interrupted:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def _http(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=DEADLINE)


async def test_thread_stream_values_lifecycle_and_output(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="steps") as thread:
        started = await thread.run.start(input={"label": "v2"})
        assert uuid.UUID(started["run_id"])
        snapshots = []
        async with asyncio.timeout(DEADLINE):
            async for snapshot in thread.values:
                snapshots.append(snapshot)
            output = await thread.output
    assert output["log"] == ["v2", "done:v2"]
    assert snapshots[-1]["log"] == ["v2", "done:v2"]
    run = await client.runs.get(thread.thread_id, started["run_id"])
    assert run["status"] == "success"


async def test_messages_and_tool_calls_through_the_sdk(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="agent") as thread:
        await thread.run.start(input=QUESTION)
        items = []
        async with asyncio.timeout(DEADLINE):
            async for channel, item in thread.interleave_projections(["messages", "tool_calls"]):
                items.append((channel, item))
            output = await thread.output
    messages = [item for channel, item in items if channel == "messages"]
    tools = [item for channel, item in items if channel == "tool_calls"]
    assert [m.node for m in messages] == ["agent", "agent"]
    final = await messages[-1].text
    assert "San Francisco" in final
    assert output["messages"][-1]["content"] == final
    assert [t.name for t in tools] == ["tavily_search_results_json"]
    assert tools[0].input == {"query": "weather in san francisco"}
    assert "58°F" in await tools[0].output


async def test_every_channel_on_the_wire(server_url: str) -> None:
    tid = str(uuid.uuid4())
    async with _http(server_url) as http:
        start = await _command(http, tid, "run.start", {"assistant_id": "nested", "input": {}})
        assert start["type"] == "success"
        assert start["meta"]["applied_through_seq"] == 0  # a new thread: nothing before
        events = await _collect(http, tid, {"channels": ALL}, until="interrupted")
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
        assert len({e["event_id"] for e in events}) == len(events)
        by_method: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by_method.setdefault(event["method"], []).append(event["params"])
        assert set(by_method) == {
            "lifecycle",
            "values",
            "updates",
            "messages",
            "tasks",
            "custom",
            "input.requested",
        }
        inner = by_method["custom"][0]["namespace"]
        assert inner[0].startswith("inner:")
        assert by_method["custom"][0]["data"] == {"progress": "talking"}
        lifecycle = [(p["namespace"], p["data"]["event"]) for p in by_method["lifecycle"]]
        assert lifecycle == [
            ([], "running"),
            (inner, "started"),
            (inner, "completed"),
            ([], "interrupted"),
        ]
        kinds = [p["data"]["event"] for p in by_method["messages"]]
        assert kinds[0] == "message-start"
        assert kinds[-1] == "message-finish"
        text = "".join(
            p["data"]["delta"]["text"]
            for p in by_method["messages"]
            if p["data"]["event"] == "content-block-delta"
        )
        assert text == "hello from the inside"
        asked = by_method["input.requested"][0]
        assert asked["namespace"] == []
        assert asked["data"]["payload"] == {"question": "continue?"}
        assert by_method["values"][-1]["data"]["log"] == ["talked:hello from the inside"]
        # A narrower subscription gets the same events, filtered on the server.
        root_only = {"channels": ["values", "lifecycle"], "namespaces": [[]], "depth": 0}
        narrow = await _collect(http, tid, root_only, until="interrupted")
        assert narrow == [
            e
            for e in events
            if e["method"] in ("values", "lifecycle") and not e["params"]["namespace"]
        ]
        named = await _collect(
            http, tid, {"channels": ["custom:progress", "lifecycle"]}, "interrupted"
        )
        assert [e["method"] for e in named] == ["lifecycle"] * 4  # custom data without a name


async def test_interrupt_and_input_respond(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="ask") as thread:
        await thread.run.start(input={"label": "q"})
        async with asyncio.timeout(DEADLINE):
            async for _ in thread.values:
                pass  # ends when the run asks (or ends)
            await _interrupted(thread)
            [asked] = thread.interrupts
            assert asked["namespace"] == []
            assert asked["value"] == {"question": "continue?"}
            state = await client.threads.get_state(thread.thread_id)
            assert state["next"] == ["ask"]
            resumed = await thread.run.respond("yes")
            assert uuid.UUID(resumed["run_id"])
            output = await thread.output
    assert output["answer"] == "yes"
    assert output["log"] == ["asked"]
    async with _http(client.http.client.base_url.__str__()) as http:
        again = await _command(
            http,
            thread.thread_id,
            "input.respond",
            {"interrupt_id": asked["interrupt_id"], "namespace": [], "response": "no"},
        )
    assert again["type"] == "error"
    assert again["error"] == "no_such_interrupt"


async def test_reconnect_with_since_misses_nothing(server_url: str) -> None:
    tid = str(uuid.uuid4())
    body = {"channels": ["custom", "lifecycle", "values"]}
    ticks = {"ticks": 12, "interval": 0.02}
    async with _http(server_url) as http:
        await _command(http, tid, "run.start", {"assistant_id": "ticker", "input": ticks})
        first: list[dict[str, Any]] = []
        async with asyncio.timeout(DEADLINE):
            async for event in _events(http, tid, body):
                first.append(event)
                if event["method"] == "custom" and event["params"]["data"] == {"tick": 3}:
                    break  # the connection drops mid-run
        rest = await _collect(http, tid, {**body, "since": first[-1]["seq"]})
        whole = await _collect(http, tid, body)
    assert first + rest == whole
    assert [e["params"]["data"]["tick"] for e in whole if e["method"] == "custom"] == list(
        range(12)
    )
    assert rest[0]["params"]["data"] == {"tick": 4}
    # Resuming inside one stored event's v2 events (a message's start and first block
    # share a stored chunk) sends only the ones after it.
    async with _http(server_url) as http:
        t2 = str(uuid.uuid4())
        await _command(http, t2, "run.start", {"assistant_id": "nested", "input": {}})
        messages = {"channels": ["messages", "lifecycle"]}
        every = await _collect(http, t2, messages, until="interrupted")
        start = next(i for i, e in enumerate(every) if e["method"] == "messages")
        after_start = await _collect(
            http, t2, {**messages, "since": every[start]["seq"]}, until="interrupted"
        )
    assert every[start + 1]["seq"] == every[start]["seq"] + 1  # same stored event
    assert after_start == every[start + 1 :]


async def test_run_start_on_a_busy_thread_follows_the_multitask_rules(server_url: str) -> None:
    tid = str(uuid.uuid4())
    slow = {"assistant_id": "steps", "input": {"label": "a", "sleep": 30}}
    async with _http(server_url) as http:
        first = await _command(http, tid, "run.start", slow)
        rejected = await _command(
            http,
            tid,
            "run.start",
            {"assistant_id": "steps", "input": {"label": "b"}, "multitask_strategy": "reject"},
            cid=2,
        )
        assert rejected == {
            "type": "error",
            "id": 2,
            "error": "unknown_error",
            "message": "409: Thread is already running a task. Wait for it to finish or "
            "choose a different multitask strategy.",
        }
        tree = await _command(http, tid, "agent.getTree", {}, cid=5)
        assert {n["id"] for n in tree["result"]["nodes"]} >= {"work", "finish"}
        queued = await _command(
            http, tid, "run.start", {"assistant_id": "steps", "input": {"label": "c"}}, cid=3
        )
        assert queued["type"] == "success"  # enqueue, the default
        assert queued["meta"]["applied_through_seq"] > 0  # the first run has started
        runs = (await http.get(f"/threads/{tid}/runs")).json()
        assert {r["run_id"]: r["status"] for r in runs} == {
            first["result"]["run_id"]: "running",
            queued["result"]["run_id"]: "pending",
        }
        interrupting = await _command(
            http,
            tid,
            "run.start",
            {
                "assistant_id": "steps",
                "input": {"label": "d", "sleep": 0},
                "multitask_strategy": "interrupt",
            },
            cid=4,
        )
        assert interrupting["type"] == "success"
        lifecycle = {"channels": ["lifecycle"]}
        events = await _collect(http, tid, lifecycle)
        ends = [e["params"]["data"] for e in events if e["params"]["data"]["event"] != "running"]
        assert ends[0] == {
            "event": "failed",
            "graph_name": "steps",
            "error": "The run was cancelled.",
        }
        state = (await http.get(f"/threads/{tid}/state")).json()
        assert "d" in state["values"]["log"]


async def test_a_second_api_process_serves_the_events(
    server_url: str, module_database_url: str
) -> None:
    tid = str(uuid.uuid4())
    with running_server(
        module_database_url, config=GRAPHS, extra_args=("--no-worker", "--no-migrate")
    ) as other_url:
        async with _http(server_url) as http, _http(other_url) as other:
            await _command(
                other, tid, "run.start", {"assistant_id": "agent", "input": QUESTION}
            )  # created there, run by the first process's worker
            served_there = await _collect(other, tid, {"channels": ALL})
            served_here = await _collect(http, tid, {"channels": ALL})
        assert served_there == served_here
        assert {"values", "messages", "tools", "updates", "lifecycle"} <= {
            e["method"] for e in served_there
        }
        other_client = get_client(url=other_url)
        try:
            async with other_client.threads.stream(tid, assistant_id="agent") as thread:
                async with asyncio.timeout(DEADLINE):
                    state = await thread.output  # an explicit, finished thread
        finally:
            await other_client.http.client.aclose()
        assert state["messages"][-1]["type"] == "ai"


async def test_bad_commands_get_the_documented_errors(server_url: str) -> None:
    tid = str(uuid.uuid4())
    async with _http(server_url) as http:

        async def error(method: str, params: Any) -> tuple[str, str]:
            body = await _command(http, tid, method, params)
            assert body["type"] == "error", body
            return body["error"], body["message"]

        assert await error("run.begin", {}) == (
            "unknown_command",
            "Unknown protocol command: run.begin",
        )
        assert await error("run.start", {}) == (
            "invalid_argument",
            "run.start requires an assistant_id.",
        )
        assert (await error("run.start", []))[0] == "invalid_argument"
        code, message = await error("run.start", {"assistant_id": "steps", "config": 3})
        assert code == "invalid_argument"
        assert "config" in message
        code, message = await error("run.start", {"assistant_id": "nope"})
        assert code == "invalid_argument"
        assert "nope" in message
        params = {"interrupt_id": "x", "namespace": [], "response": 1}
        assert (await error("input.respond", params))[0] == "unknown_error"  # no thread
        assert (await error("agent.getTree", {}))[0] == "unknown_error"
        assert (await error("input.respond", {"namespace": []}))[0] == "invalid_argument"
        assert (await http.get(f"/threads/{tid}")).status_code == 404  # nothing was written
        await _command(http, tid, "run.start", {"assistant_id": "steps", "input": {}})
        await _collect(http, tid, {"channels": ["lifecycle"]})
        assert (await error("input.respond", params))[0] == "no_such_interrupt"
        assert (await error("agent.getTree", {}))[0] == "no_such_run"
        for envelope in ({"method": "run.start"}, {"id": "1", "method": "x"}, {"id": 1}, [1]):
            r = await http.post(f"/threads/{tid}/commands", json=envelope)
            assert r.status_code == 400
            assert r.json()["error"] == "invalid_argument"
            assert r.json()["detail"] == r.json()["message"]
        r = await http.post(f"/threads/{tid}/commands", content=b"{nope")
        assert r.status_code == 400
        for body in (
            {},
            {"channels": []},
            {"channels": ["bogus"]},
            {"channels": ["values"], "since": -1},
        ):
            r = await http.post(f"/threads/{tid}/stream/events", json=body)
            assert r.status_code == 400, body
            assert "detail" in r.json()
        r = await http.post(f"/threads/{tid}/stream/events", json={"channels": "values"})
        assert r.status_code == 422
        r = await http.post(f"/threads/{uuid.uuid4()}/stream/events", json={"channels": ["values"]})
        assert r.status_code == 404
        r = await http.post("/threads/nope/commands", json={"id": 1, "method": "run.start"})
        assert r.status_code == 422


async def test_the_websocket_transport(client: LangGraphClient, server_url: str) -> None:
    async with client.threads.stream(assistant_id="agent", transport="websocket") as thread:
        await thread.run.start(input=QUESTION)
        async with asyncio.timeout(DEADLINE):
            streams = [m async for m in thread.messages]
            output = await thread.output
    assert len(streams) == 2
    assert "San Francisco" in await streams[-1].text
    assert output["messages"][-1]["content"] == await streams[-1].text
    # The frames themselves: the answer to the subscribe, then the events after ``since``.
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    ws_url = server_url.replace("http://", "ws://") + f"/threads/{thread.thread_id}/stream/events"
    async with asyncio.timeout(DEADLINE), connect(ws_url) as ws:
        await ws.send(json.dumps({"id": 1, "method": "subscription.subscribe", "params": {}}))
        refused = json.loads(await ws.recv())
        assert refused["error"] == "invalid_argument"
        await ws.send(
            json.dumps(
                {"id": 2, "method": "subscription.subscribe", "params": {"channels": ["lifecycle"]}}
            )
        )
        answer = json.loads(await ws.recv())
        assert answer["type"] == "success"
        first = json.loads(await ws.recv())
        assert first["params"]["data"]["event"] == "running"
        since = {"channels": ["lifecycle"], "since": first["seq"]}
        await ws.send(json.dumps({"id": 3, "method": "subscription.subscribe", "params": since}))
        frames = [json.loads(await ws.recv()) for _ in range(3)]
    # (the first subscription's "completed" may come before or after the third's answer)
    assert [f["id"] for f in frames if "method" not in f] == [3]
    events = [f["params"]["data"]["event"] for f in frames if "method" in f]
    assert events == ["completed", "completed"]
    missing = server_url.replace("http://", "ws://") + f"/threads/{uuid.uuid4()}/stream/events"
    with pytest.raises(ConnectionClosedError) as closed:
        async with asyncio.timeout(DEADLINE), connect(missing) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404


async def test_custom_auth_guards_commands_and_streams(auth_url: str) -> None:
    def as_user(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=auth_url, timeout=DEADLINE, headers={"Authorization": f"Bearer {name}"}
        )

    tid = str(uuid.uuid4())
    run = {"assistant_id": "steps", "input": {"label": "mine"}}
    async with as_user("alice") as alice, as_user("bob") as bob, as_user("reader") as reader:
        denied = await _command(reader, tid, "run.start", run)
        assert denied["error"] == "permission_denied"
        assert (await alice.get(f"/threads/{tid}")).status_code == 404  # nothing written
        started = await _command(alice, tid, "run.start", run)
        assert started["type"] == "success"
        events = await _collect(alice, tid, {"channels": ["lifecycle", "values"]})
        assert events[-2]["params"]["data"]["log"] == ["mine", "done:mine"]
        hidden = await bob.post(f"/threads/{tid}/stream/events", json={"channels": ["values"]})
        assert hidden.status_code == 404  # as if it did not exist
        respond = {"interrupt_id": "x", "namespace": [], "response": 1}
        assert (await _command(bob, tid, "input.respond", respond))["error"] == "unknown_error"
        intruder = await _command(bob, tid, "run.start", run)
        assert intruder["type"] == "error", intruder
        assert len((await alice.get(f"/threads/{tid}/runs")).json()) == 1
        anonymous = await httpx.AsyncClient(base_url=auth_url).post(
            f"/threads/{tid}/commands", json={"id": 1, "method": "run.start", "params": run}
        )
        assert anonymous.status_code == 401
        alice_client = get_client(url=auth_url, headers={"Authorization": "Bearer alice"})
        try:
            # (a new thread: on one with finished runs, the SDK's lifecycle watcher, which
            # replays the thread's events, would take an earlier run's end for this one's)
            async with alice_client.threads.stream(assistant_id="steps") as thread:
                async with asyncio.timeout(DEADLINE):
                    await thread.run.start(input={"label": "again"})
                    output = await thread.output
        finally:
            await alice_client.http.client.aclose()
        assert output["log"] == ["again", "done:again"]
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    ws_url = auth_url.replace("http://", "ws://") + f"/threads/{tid}/stream/events"
    for token, code in ((None, 4401), ("bob", 4404)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(ConnectionClosedError) as closed:
            async with asyncio.timeout(DEADLINE), connect(ws_url, additional_headers=headers) as ws:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == code


async def test_a_stopping_process_cuts_the_stream_and_since_resumes_elsewhere(
    server_url: str, module_database_url: str
) -> None:
    tid = str(uuid.uuid4())
    body = {"channels": ["custom", "lifecycle"]}
    got: list[dict[str, Any]] = []
    ticking = asyncio.Event()
    async with _http(server_url) as http:
        ticks = {"ticks": 400, "interval": 0.05}  # long: cancelled below
        started = await _command(http, tid, "run.start", {"assistant_id": "ticker", "input": ticks})
        run_id = started["result"]["run_id"]
        other_server = running_server(
            module_database_url, config=GRAPHS, extra_args=("--no-worker", "--no-migrate")
        )
        other_url = other_server.__enter__()

        async def read() -> None:
            async with _http(other_url) as other:
                async for event in _events(other, tid, body):
                    got.append(event)
                    if event["method"] == "custom":
                        ticking.set()

        reader = asyncio.create_task(read())
        try:
            async with asyncio.timeout(DEADLINE):
                await ticking.wait()
        finally:
            # SIGTERM, and wait for the exit in a thread: the reader reads on meanwhile.
            await asyncio.to_thread(other_server.__exit__, None, None, None)
        # That process stopped: its stream was cut, not ended.
        with pytest.raises(httpx.RemoteProtocolError):
            async with asyncio.timeout(DEADLINE):
                await reader
        assert got[-1]["method"] == "custom"  # the run was still going
        resumed: list[dict[str, Any]] = []
        async with asyncio.timeout(DEADLINE):
            async for event in _events(
                http, tid, {**body, "since": got[-1]["seq"]}, until="failed"
            ):
                resumed.append(event)
                if len(resumed) == 5:
                    cancel = f"/threads/{tid}/runs/{run_id}/cancel"
                    assert (await http.post(cancel)).status_code in (200, 202, 204)
        whole = await _collect(http, tid, body, until="failed")
    assert got + resumed == whole
    ticked = [e["params"]["data"]["tick"] for e in whole if e["method"] == "custom"]
    assert ticked == list(range(len(ticked)))
    assert whole[-1]["params"]["data"]["error"] == "The run was cancelled."


async def test_a_failing_run_ends_failed(client: LangGraphClient) -> None:
    async with client.threads.stream(assistant_id="fail") as thread:
        await thread.run.start(input={"label": "x"})
        with pytest.raises(RuntimeError, match="Run errored: boom: x"):
            async with asyncio.timeout(DEADLINE):
                await thread.output
