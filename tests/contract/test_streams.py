"""Streaming through the official SDK against real server processes (API.md §6, issue 4)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from app.db.urls import plain_url
from tests.server import free_port, running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")
QUESTION = {"messages": [{"role": "user", "content": "what's the weather in sf?"}]}


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(
        module_database_url, config=GRAPHS, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0.002"}
    ) as url:
        yield url


async def _collect(stream: Any) -> list[StreamPart]:
    return [part async for part in stream]


def _names(parts: list[StreamPart]) -> list[str]:
    return [p.event for p in parts]


async def _run_status(client: LangGraphClient, tid: str, rid: str, want: str) -> None:
    for _ in range(300):
        if (await client.runs.get(tid, rid))["status"] == want:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {rid} never reached {want}")


async def test_demo_answer_streams_token_by_token(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    created: list[Any] = []
    parts = await _collect(
        client.runs.stream(
            tid,
            "agent",
            input=QUESTION,
            stream_mode=["messages-tuple", "values"],
            on_run_created=created.append,
        )
    )
    names = _names(parts)
    assert names[0] == "metadata"
    run_id = parts[0].data["run_id"]
    assert parts[0].data == {"run_id": run_id, "attempt": 1}
    assert created[0]["run_id"] == run_id
    assert created[0]["thread_id"] == tid
    assert "end" not in names
    assert "error" not in names
    assert set(names) == {"metadata", "messages", "values"}
    # Every messages event is [chunk, metadata]; the answer arrives in many chunks.
    final = parts[[i for i, n in enumerate(names) if n == "values"][-1]].data["messages"][-1]
    chunks = [p.data for p in parts if p.event == "messages" and p.data[0]["id"] == final["id"]]
    assert len(chunks) > 10
    assert all(c[0]["type"] == "AIMessageChunk" for c in chunks)
    assert all(c[1]["langgraph_node"] == "agent" and "langgraph_step" in c[1] for c in chunks)
    assert "".join(c[0]["content"] for c in chunks) == final["content"]
    assert "San Francisco" in final["content"]
    # The stream closed after the run's terminal status was committed.
    assert (await client.runs.get(tid, run_id))["status"] == "success"
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_values_and_updates_for_a_plain_graph(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(
            thread["thread_id"],
            "steps",
            input={"label": "a"},
            stream_mode=["values", "updates"],
        )
    )
    assert _names(parts) == ["metadata", "values", "updates", "values", "updates", "values"]
    values = [p.data for p in parts if p.event == "values"]
    assert values[0]["label"] == "a"
    assert not values[0].get("log")
    assert values[-1] == {"label": "a", "log": ["a", "done:a"]}
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates == [{"work": {"log": ["a"]}}, {"finish": {"log": ["done:a"]}}]
    # Default stream mode is values only.
    default = await _collect(client.runs.stream(thread["thread_id"], "steps", input={"label": "b"}))
    assert set(_names(default)) == {"metadata", "values"}


async def test_subgraph_modes_and_interrupt(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = await _collect(
        client.runs.stream(
            tid,
            "nested",
            input={"log": ["x"]},
            stream_mode=["messages-tuple", "custom", "updates", "values"],
            stream_subgraphs=True,
        )
    )
    names = _names(parts)
    sub = [n for n in names if "|" in n]
    assert sub, names
    namespaces = {n.split("|", 1)[1] for n in sub}
    assert len(namespaces) == 1
    (namespace,) = namespaces
    assert namespace.startswith("inner:")
    assert f"custom|{namespace}" in names
    assert f"messages|{namespace}" in names
    assert f"updates|{namespace}" in names
    custom = next(p.data for p in parts if p.event == f"custom|{namespace}")
    assert custom == {"progress": "talking"}
    tokens = [p.data[0]["content"] for p in parts if p.event == f"messages|{namespace}"]
    assert "".join(tokens) == "hello from the inside"
    # The interrupt: an updates chunk with __interrupt__, and in the last values.
    interrupt_updates = [
        p.data for p in parts if p.event == "updates" and "__interrupt__" in p.data
    ]
    assert interrupt_updates[0]["__interrupt__"][0]["value"] == {"question": "continue?"}
    assert set(interrupt_updates[0]["__interrupt__"][0]) >= {"value", "id"}
    assert "__interrupt__" in [p.data for p in parts if p.event == "values"][-1]
    state = await client.threads.get(tid)
    assert state["status"] == "interrupted"


async def test_interrupt_is_visible_without_updates_or_values(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(thread["thread_id"], "ask", input={}, stream_mode="messages-tuple")
    )
    assert _names(parts) == ["metadata", "values"]
    assert parts[1].data["__interrupt__"][0]["value"] == {"question": "continue?"}


async def test_legacy_messages_mode(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(
            thread["thread_id"],
            "nested",
            input={},
            stream_mode="messages",
            stream_subgraphs=True,
        )
    )
    names = [n.split("|")[0] for n in _names(parts)]
    assert names[0] == "metadata"
    assert names[1] == "messages/metadata"
    partial = [p.data for p in parts if p.event.startswith("messages/partial")]
    assert len(partial) > 2
    # Each partial carries the message accumulated so far, as a list of one.
    contents = [p[0]["content"] for p in partial]
    assert contents[-1] == "hello from the inside"
    assert all(b.startswith(a) for a, b in itertools.pairwise(contents))
    meta = next(p.data for p in parts if p.event.startswith("messages/metadata"))
    ((msg_id, entry),) = meta.items()
    assert msg_id == partial[0][0]["id"]
    assert entry["metadata"]["langgraph_node"] == "talk"


async def test_events_debug_tasks_checkpoints(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(
            thread["thread_id"],
            "steps",
            input={"label": "d"},
            stream_mode=["events", "debug", "tasks", "checkpoints"],
        )
    )
    by_name: dict[str, list[Any]] = {}
    for p in parts:
        by_name.setdefault(p.event, []).append(p.data)
    assert set(by_name) == {"metadata", "events", "debug", "tasks", "checkpoints"}
    for event in by_name["events"]:
        assert set(event) >= {"event", "name", "run_id", "tags", "metadata", "data"}
    kinds = [e["event"] for e in by_name["events"]]
    assert kinds[0] == "on_chain_start"
    assert kinds[-1] == "on_chain_end"
    assert by_name["events"][0]["run_id"] == by_name["metadata"][0]["run_id"]
    debug_types = {d["type"] for d in by_name["debug"]}
    assert debug_types == {"checkpoint", "task", "task_result"}
    checkpoint = next(d for d in by_name["debug"] if d["type"] == "checkpoint")["payload"]
    assert set(checkpoint) >= {
        "config",
        "parent_config",
        "values",
        "metadata",
        "next",
        "tasks",
        "checkpoint",
        "parent_checkpoint",
    }
    assert checkpoint["checkpoint"]["thread_id"] == thread["thread_id"]
    starts = [t for t in by_name["tasks"] if "input" in t]
    results = [t for t in by_name["tasks"] if "result" in t]
    assert [t["name"] for t in starts] == ["work", "finish"]
    assert set(starts[0]) >= {"id", "name", "input", "triggers"}
    assert set(results[0]) >= {"id", "name", "error", "interrupts", "result"}
    assert set(by_name["checkpoints"][-1]) >= {
        "config",
        "parent_config",
        "values",
        "metadata",
        "next",
        "tasks",
    }
    assert by_name["checkpoints"][-1]["values"] == {"label": "d", "log": ["d", "done:d"]}


async def test_error_event_and_status(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    parts = await _collect(client.runs.stream(thread["thread_id"], "fail", input={"label": "z"}))
    assert _names(parts) == ["metadata", "values", "error"]
    assert parts[-1].data == {"error": "ValueError", "message": "boom: z"}
    run_id = parts[0].data["run_id"]
    assert (await client.runs.get(thread["thread_id"], run_id))["status"] == "error"


async def test_headers_and_framing(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    async with (
        httpx.AsyncClient(base_url=server_url) as http,
        http.stream(
            "POST",
            f"/threads/{tid}/runs/stream",
            json={"assistant_id": "steps", "input": {"label": "h"}, "stream_resumable": True},
        ) as res,
    ):
        raw = (await res.aread()).decode()
    assert res.status_code == 200
    assert res.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert res.headers["cache-control"] == "no-store"
    assert res.headers["x-accel-buffering"] == "no"
    run_path = res.headers["content-location"]
    assert run_path.startswith(f"/threads/{tid}/runs/")
    assert res.headers["location"] == f"{run_path}/stream"
    frames = [f for f in raw.split("\r\n\r\n") if f]
    assert frames[0].startswith("event: metadata\r\ndata: {")
    ids = []
    for f in frames:
        lines = f.split("\r\n")
        assert lines[0].startswith("event: ")
        assert lines[1].startswith("data: ")
        json.loads(lines[1][len("data: ") :])
        assert lines[2].startswith("id: ")
        ids.append(lines[2][4:])
    ms_seq = [tuple(int(x) for x in i.split("-")) for i in ids]
    assert [s for _, s in ms_seq] == sorted(s for _, s in ms_seq)
    assert len(set(ids)) == len(ids)


async def test_errors_before_the_stream_are_json(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    async with httpx.AsyncClient(base_url=server_url) as http:
        missing = await http.post(
            "/threads/00000000-0000-0000-0000-000000000001/runs/stream",
            json={"assistant_id": "steps"},
        )
        bad_mode = await http.post(
            f"/threads/{tid}/runs/stream", json={"assistant_id": "steps", "stream_mode": "tools"}
        )
        bad_id = await http.get(f"/threads/{tid}/runs/not-a-uuid/stream")
        no_run = await http.get(f"/threads/{tid}/runs/00000000-0000-0000-0000-000000000002/stream")
        busy_run = await client.runs.create(tid, "steps", input={"label": "w", "sleep": 1.0})
        busy = await http.post(
            f"/threads/{tid}/runs/stream",
            json={"assistant_id": "steps", "multitask_strategy": "reject"},
        )
        await client.runs.cancel(tid, busy_run["run_id"])
    # Joining an unknown run is a stream with one error event, as the reference server does.
    assert no_run.status_code == 200
    assert no_run.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert no_run.text == (
        'event: error\r\ndata: {"error":"HTTPException","message":"404: Run not found"}\r\n\r\n'
    )
    for res, status in ((missing, 404), (bad_mode, 422), (bad_id, 422), (busy, 409)):
        assert res.status_code == status, res.text
        assert res.headers["content-type"].startswith("application/json")
        assert "detail" in res.json()


async def test_reconnect_with_last_event_id_resumes_exactly(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
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
    await stream.aclose()  # the client drops the connection mid-run
    assert all(p.id for p in first)
    rest = await _collect(client.runs.join_stream(tid, rid, last_event_id=first[-1].id))
    # The whole log, replayed after the run ended.
    everything = await _collect(client.runs.join_stream(tid, rid, last_event_id="-"))
    assert [p.id for p in first + rest] == [p.id for p in everything]
    assert [(p.event, p.data) for p in first + rest] == [(p.event, p.data) for p in everything]
    assert len(everything) > 30
    assert everything[0].event == "metadata"


async def test_join_without_last_event_id_is_live_and_non_resumable_has_no_ids(
    client: LangGraphClient,
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    blocker = await client.runs.create(tid, "steps", input={"label": "b", "sleep": 0.5})
    run = await client.runs.create(tid, "steps", input={"label": "q"}, stream_mode="updates")
    joined = asyncio.ensure_future(_collect(client.runs.join_stream(tid, run["run_id"])))
    await client.runs.join(tid, run["run_id"])
    parts = await joined
    assert _names(parts) == ["metadata", "updates", "updates"]
    assert all(p.id is None for p in parts)
    # A finished run without Last-Event-ID yields nothing and closes.
    assert await _collect(client.runs.join_stream(tid, run["run_id"])) == []
    assert (await client.runs.get(tid, blocker["run_id"]))["status"] == "success"


async def test_join_filters_by_stream_mode(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(
        tid,
        "steps",
        input={"label": "f"},
        stream_mode=["values", "updates"],
        stream_resumable=True,
    )
    await client.runs.join(tid, run["run_id"])
    only = await _collect(
        client.runs.join_stream(tid, run["run_id"], stream_mode="updates", last_event_id="-")
    )
    assert _names(only) == ["updates", "updates"]  # no metadata unless asked (the reference)
    both = await _collect(
        client.runs.join_stream(
            tid, run["run_id"], stream_mode=["updates", "values"], last_event_id="-"
        )
    )
    assert _names(both) == ["values", "updates", "values", "updates", "values"]


async def test_stateless_stream(client: LangGraphClient, server_url: str) -> None:
    created: list[Any] = []
    parts = await _collect(
        client.runs.stream(None, "steps", input={"label": "s"}, on_run_created=created.append)
    )
    assert _names(parts) == ["metadata", "values", "values", "values"]
    assert parts[-1].data == {"label": "s", "log": ["s", "done:s"]}
    assert created[0]["thread_id"] is None  # Content-Location is /runs/<id>
    async with httpx.AsyncClient(base_url=server_url) as http:
        res = await http.get(f"/runs/{created[0]['run_id']}/stream")
    # The temporary thread (and its run) is gone after the stream: on_completion=delete.
    assert res.status_code == 200
    assert "404: Run not found" in res.text


async def test_on_disconnect_cancel_interrupts_the_run(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    stream = client.runs.stream(
        tid, "steps", input={"label": "c", "sleep": 30}, on_disconnect="cancel"
    )
    first = await stream.__anext__()
    assert first.event == "metadata"
    await stream.aclose()
    await _run_status(client, tid, first.data["run_id"], "interrupted")
    # cancel_on_disconnect on a join does the same.
    run = await client.runs.create(tid, "steps", input={"label": "j", "sleep": 30})
    join = client.runs.join_stream(tid, run["run_id"], cancel_on_disconnect=True, last_event_id="-")
    assert (await join.__anext__()).event == "metadata"
    await join.aclose()
    await _run_status(client, tid, run["run_id"], "interrupted")
    # Without it, a dropped stream leaves the run going.
    run = await client.runs.create(tid, "steps", input={"label": "k", "sleep": 0.5})
    join = client.runs.join_stream(tid, run["run_id"], last_event_id="-")
    assert (await join.__anext__()).event == "metadata"
    await join.aclose()
    await _run_status(client, tid, run["run_id"], "success")


async def test_thread_stream_lifecycle_and_replay(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    seen: list[StreamPart] = []

    async def watch() -> None:
        async for part in await client.threads.join_stream(tid, stream_mode="lifecycle"):
            seen.append(part)
            if sum(1 for p in seen if p.data.get("status") == "run_done") == 2:
                return

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.3)  # the thread stream is live: let it attach first
    r1 = await client.runs.wait(tid, "steps", input={"label": "1"})
    assert r1["log"] == ["1", "done:1"]
    runs = await client.runs.list(tid)
    await client.runs.wait(tid, "steps", input={"label": "2"})
    await asyncio.wait_for(watcher, 10)
    run_ids = [r["run_id"] for r in await client.runs.list(tid)][::-1]
    assert runs[0]["run_id"] == run_ids[0]
    assert [p.event for p in seen] == ["metadata"] * 4
    assert [p.data for p in seen] == [
        {"run_id": run_ids[0], "attempt": 1},
        {"status": "run_done", "run_id": run_ids[0]},
        {"run_id": run_ids[1], "attempt": 1},
        {"status": "run_done", "run_id": run_ids[1]},
    ]
    assert all(p.id for p in seen)
    # run_modes (the default) replays every event of both runs with Last-Event-ID "-".
    replay: list[StreamPart] = []
    async for part in await client.threads.join_stream(tid, last_event_id="-"):
        replay.append(part)
        if part.data.get("status") == "run_done" and part.data["run_id"] == run_ids[1]:
            break
    names = [p.event for p in replay]
    assert names.count("values") == 6
    assert names.count("metadata") == 4
    # After an id, only what follows it.
    after = seen[1].id
    tail: list[StreamPart] = []
    async for part in await client.threads.join_stream(
        tid, stream_mode="lifecycle", last_event_id=after
    ):
        tail.append(part)
        if len(tail) == 2:
            break
    assert [p.data for p in tail] == [p.data for p in seen[2:]]
    async with httpx.AsyncClient(base_url=server_url) as http:
        bad = await http.get(f"/threads/{tid}/stream", headers={"Last-Event-ID": "-1"})
        bad_mode = await http.get(f"/threads/{tid}/stream", params={"stream_modes": "nope"})
        missing = await http.get("/threads/00000000-0000-0000-0000-000000000003/stream")
    assert bad.status_code == 422
    assert "detail" in bad.json()
    assert bad_mode.status_code == 422
    assert missing.status_code == 404


async def _events_of(database_url: str, run_id: str) -> int:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM run_events WHERE run_id = $1", run_id))
    finally:
        await conn.close()


async def _watchers(database_url: str, watched: str) -> int:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        sql = "SELECT count(*) FROM stream_watchers WHERE watched = $1 AND expires_at > now()"
        return int(await conn.fetchval(sql, watched))
    finally:
        await conn.close()


async def _until(check: Any, want: int) -> None:
    for _ in range(500):
        if await check() == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {want}")


async def test_a_wait_run_writes_its_events_only_while_somebody_watches(
    client: LangGraphClient, module_database_url: str
) -> None:
    """runs.wait's client takes the output: its stream events are written only while a
    join or a thread stream reads live, or with stream_resumable; other runs write all."""
    tid = (await client.threads.create())["thread_id"]
    quiet = await client.runs.wait(tid, "steps", input={"label": "q"})
    assert quiet["log"] == ["q", "done:q"]
    await client.http.post(
        f"/threads/{tid}/runs/wait",
        json={"assistant_id": "steps", "input": {"label": "r"}, "stream_resumable": True},
    )
    bg = await client.runs.create(tid, "steps", input={"label": "b"})
    await client.runs.join(tid, bg["run_id"])
    await client.runs.wait(None, "steps", input={"label": "s"})  # stateless: thread gone
    quiet_id, resumable_id, bg_id = [r["run_id"] for r in await client.runs.list(tid)][::-1]
    assert (await client.runs.get(tid, quiet_id))["kwargs"]["events_when_watched"] is True
    assert await _events_of(module_database_url, quiet_id) == 0
    assert await _events_of(module_database_url, resumable_id) > 0
    assert await _events_of(module_database_url, bg_id) > 0

    seen: list[StreamPart] = []

    async def watch() -> None:
        async for part in await client.threads.join_stream(tid, stream_mode="run_modes"):
            seen.append(part)
            if part.event == "values" and part.data.get("log", [])[-2:] == ["w", "done:w"]:
                return

    watcher = asyncio.ensure_future(watch())
    await _until(lambda: _watchers(module_database_url, tid), 1)
    watched = await client.runs.wait(tid, "steps", input={"label": "w"})
    await asyncio.wait_for(watcher, 10)
    assert watched["log"][-2:] == ["w", "done:w"]
    assert [p.event for p in seen].count("values") == 3  # input, then each of the 2 nodes
    watched_id = (await client.runs.list(tid, limit=1))[0]["run_id"]
    assert await _events_of(module_database_url, watched_id) == 4  # metadata + 3 values
    await _until(lambda: _watchers(module_database_url, tid), 0)  # dropped when it stops


async def test_a_join_of_a_wait_run_watches_it(
    client: LangGraphClient, module_database_url: str
) -> None:
    """A join of a runs.wait run registers as its watcher: the events from then on are
    written and reach it."""
    tid = (await client.threads.create())["thread_id"]
    waiting = asyncio.ensure_future(
        client.runs.wait(tid, "steps", input={"label": "j", "sleep": 0.5})
    )
    runs: list[Any] = []
    for _ in range(500):
        runs = await client.runs.list(tid)
        if runs and runs[0]["status"] == "running":
            break
        await asyncio.sleep(0.01)
    rid = runs[0]["run_id"]
    joined = [p async for p in client.runs.join_stream(tid, rid, stream_mode="values")]
    assert (await waiting)["log"] == ["j", "done:j"]
    assert joined[-1].event == "values"
    assert joined[-1].data["log"] == ["j", "done:j"]
    assert await _events_of(module_database_url, rid) > 0
    await _until(lambda: _watchers(module_database_url, rid), 0)


async def test_heartbeat_comment_while_silent(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    body = {"assistant_id": "steps", "input": {"label": "hb", "sleep": 5.6}}
    async with (
        httpx.AsyncClient(base_url=server_url, timeout=30) as http,
        http.stream("POST", f"/threads/{thread['thread_id']}/runs/stream", json=body) as res,
    ):
        raw = (await res.aread()).decode()
    assert ": heartbeat\r\n\r\n" in raw
    assert raw.index("event: metadata") < raw.index(": heartbeat") < raw.rindex("event: values")


async def test_stream_served_by_another_process(
    module_database_url: str, client: LangGraphClient
) -> None:
    """An API-only process streams and joins runs that this module's server executes."""
    with running_server(module_database_url, config=GRAPHS, extra_args=("--workers", "0")) as url:
        other = get_client(url=url)
        try:
            thread = await other.threads.create()
            tid = thread["thread_id"]
            streamed = await _collect(
                other.runs.stream(
                    tid,
                    "agent",
                    input=QUESTION,
                    stream_mode="messages-tuple",
                    stream_resumable=True,
                )
            )
            assert _names(streamed)[0] == "metadata"
            assert len(streamed) > 30
            run_id = streamed[0].data["run_id"]
            # The same log, read through the executing process and the API-only one.
            here = await _collect(client.runs.join_stream(tid, run_id, last_event_id="-"))
            there = await _collect(other.runs.join_stream(tid, run_id, last_event_id="-"))
            assert [p.id for p in here] == [p.id for p in there] == [p.id for p in streamed]
            # A live join on the API-only process sees the whole stream of a queued run.
            blocker = await other.runs.create(tid, "steps", input={"label": "x", "sleep": 0.5})
            queued = await other.runs.create(tid, "steps", input={"label": "y"})
            live = asyncio.ensure_future(_collect(other.runs.join_stream(tid, queued["run_id"])))
            await other.runs.join(tid, queued["run_id"])
            parts = await live
            assert _names(parts) == ["metadata", "values", "values", "values"]
            assert parts[-1].data["log"][-2:] == ["y", "done:y"]
            assert (await other.runs.get(tid, blocker["run_id"]))["status"] == "success"
        finally:
            await other.http.client.aclose()


async def test_wait_on_disconnect_cancel(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    body = {
        "assistant_id": "steps",
        "input": {"label": "w", "sleep": 30},
        "on_disconnect": "cancel",
    }
    async with httpx.AsyncClient(base_url=server_url) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"/threads/{tid}/runs/wait", json=body, timeout=1.0)
    (run,) = await client.runs.list(tid)
    await _run_status(client, tid, run["run_id"], "interrupted")


async def test_sdk_reconnects_after_the_api_process_restarts(
    module_database_url: str, server_url: str
) -> None:
    """The SDK follows Location with Last-Event-ID when its API process dies mid-stream: it
    receives every event once, in order, from the restarted process. (The module's server,
    ``server_url``, executes the run; the killed one only serves its stream.)"""
    port = free_port()
    args = ("--workers", "0")
    kill = signal.SIGKILL
    stack = contextlib.ExitStack()
    url = stack.enter_context(
        running_server(
            module_database_url, config=GRAPHS, extra_args=args, port=port, stop_signal=kill
        )
    )
    client = get_client(url=url)
    parts: list[StreamPart] = []

    async def follow(thread_id: str) -> None:
        nonlocal stack
        async for part in client.runs.stream(
            thread_id,
            "ticker",
            input={"ticks": 100, "interval": 0.05},
            stream_mode="custom",
            stream_resumable=True,
        ):
            parts.append(part)
            if len(parts) == 5:
                # Kill the API process under the open stream, and start a new one on the port.
                await asyncio.to_thread(stack.close)
                stack = contextlib.ExitStack()
                await asyncio.to_thread(
                    stack.enter_context,
                    running_server(module_database_url, config=GRAPHS, extra_args=args, port=port),
                )

    try:
        thread = await client.threads.create()
        await asyncio.wait_for(follow(thread["thread_id"]), 90)
        ticks = [p.data["tick"] for p in parts if p.event == "custom"]
        assert ticks == list(range(100))
        replay = await _collect(
            client.runs.join_stream(thread["thread_id"], parts[0].data["run_id"], last_event_id="-")
        )
        assert [p.id for p in parts] == [p.id for p in replay]
    finally:
        await client.http.client.aclose()
        stack.close()


async def test_sigterm_ends_open_streams_and_the_process(
    module_database_url: str, server_url: str
) -> None:
    """An endless thread stream does not hold a stopping process: SIGTERM ends the streams
    cleanly and the process exits by itself (exit code 0, not the SIGKILL after 20 s)."""
    codes: list[int] = []
    with running_server(
        module_database_url, config=GRAPHS, extra_args=("--workers", "0"), exit_codes=codes
    ) as url:
        client = get_client(url=url)
        thread = await client.threads.create()
        stream = await client.threads.join_stream(thread["thread_id"])
        reader = asyncio.ensure_future(_collect(stream))
        await asyncio.sleep(0.5)
        assert not reader.done()
    # Leaving the block sent SIGTERM and waited for the process.
    assert codes == [0]
    assert await asyncio.wait_for(reader, 5) == []
    await client.http.client.aclose()


@pytest.mark.parametrize(
    ("mode", "names"),
    [
        ("values", {"values"}),
        ("updates", {"updates"}),
        ("messages-tuple", {"messages"}),
        ("messages", {"messages/metadata", "messages/partial", "messages/complete"}),
        ("custom", set()),
        ("events", {"events"}),
        ("debug", {"debug"}),
        ("tasks", {"tasks"}),
        ("checkpoints", {"checkpoints"}),
    ],
)
async def test_every_mode_on_the_demo_graph(
    client: LangGraphClient, mode: str, names: set[str]
) -> None:
    thread = await client.threads.create()
    parts = await _collect(
        client.runs.stream(thread["thread_id"], "agent", input=QUESTION, stream_mode=mode)
    )
    assert parts[0].event == "metadata"
    assert set(_names(parts[1:])) == names  # the demo writes no custom data
    state = await client.threads.get_state(thread["thread_id"])
    answer = state["values"]["messages"][-1]["content"]
    if mode == "values":
        assert parts[-1].data["messages"][-1]["content"] == answer
    if mode == "updates":
        assert [next(iter(p.data)) for p in parts[1:]] == ["agent", "tools", "agent"]
    if mode == "messages":
        # The tool's message arrives whole; the model's are accumulated chunk by chunk.
        complete = [p.data[0] for p in parts if p.event == "messages/complete"]
        assert [m["type"] for m in complete] == ["tool"]
        partial = [p.data[0] for p in parts if p.event == "messages/partial"]
        assert partial[-1]["content"] == answer
