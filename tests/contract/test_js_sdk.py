"""The official JavaScript SDK (``@langchain/langgraph-sdk``, pinned in tests/js/package.json)
against a real server running the bundled demo graph ``agent``.

Each test runs a small node script from tests/js that prints one JSON object per line on
stdout and exits non-zero on failure; the assertions live here. The node modules are installed
with ``npm ci`` from tests/js/package-lock.json when missing. Node.js is required: without it
these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import ROOT, running_server

JS_DIR = Path(__file__).resolve().parents[1] / "js"
SDK_PACKAGE = "@langchain/langgraph-sdk"
NODE_TIMEOUT = 30.0
NPM_TIMEOUT = 300.0
INPUT_TEXT = "what's the weather in sf?"
TOOL_NAME = "tavily_search_results_json"
BUSY = (
    "Thread is already running a task. Wait for it to finish or choose a different "
    "multitask strategy."
)


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    # Without a config the server serves the demo graph ``agent``; the token delay keeps a
    # run active long enough for the concurrent create and the join to find it running.
    with running_server(module_database_url, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0.01"}) as url:
        yield url


def _pinned_version() -> str:
    package = json.loads((JS_DIR / "package.json").read_text())
    return str(package["dependencies"][SDK_PACKAGE])


def _installed_version() -> str | None:
    manifest = JS_DIR / "node_modules" / SDK_PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text())["version"])


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with tests/js's modules installed (``npm ci`` if needed)."""
    exe = shutil.which("node")
    if exe is None:
        pytest.fail(
            "Node.js is not installed (no `node` on PATH): the JS SDK contract tests need "
            "node >= 20 and npm (see tests/js/package.json)",
            pytrace=False,
        )
    version = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if major is None or int(major.group(1)) < 20:
        pytest.fail(f"the JS SDK tests need node >= 20, found {version!r}", pytrace=False)
    if not (JS_DIR / "node_modules").is_dir() or _installed_version() != _pinned_version():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "npm is not installed: cannot install tests/js's node modules", pytrace=False
            )
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`npm ci` in {JS_DIR} took more than {NPM_TIMEOUT:.0f}s", pytrace=False)
        if proc.returncode != 0:
            pytest.fail(
                f"`npm ci` in {JS_DIR} failed ({proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}",
                pytrace=False,
            )
    installed = _installed_version()
    assert installed == _pinned_version(), f"{SDK_PACKAGE} {installed} installed"
    return exe


def _run_node(node: str, server_url: str, script: str, *args: str) -> list[dict[str, Any]]:
    """Run ``node tests/js/<script> args...`` against the server; its stdout JSON lines."""
    env = {**os.environ, "TURNSTILE_URL": server_url, "NO_COLOR": "1"}
    try:
        proc = subprocess.run(
            [node, script, *args],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"node {script} {' '.join(args)} took more than {NODE_TIMEOUT:.0f}s\n"
            f"stdout:\n{exc.stdout!r:.4000}\nstderr:\n{exc.stderr!r:.4000}"
        )
    assert proc.returncode == 0, (
        f"node {script} {' '.join(args)} exited with {proc.returncode}\n"
        f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _one(lines: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    found = [line for line in lines if line.get(key) == value]
    assert len(found) == 1, f"expected one {key}={value!r} line, got {found}"
    return found[0]


def _events(lines: list[dict[str, Any]], kind: str = "event") -> list[dict[str, Any]]:
    return [line for line in lines if line["kind"] == kind]


def _assert_conversation(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The demo graph's answer to the seed question; returns the final AI message."""
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"], messages
    assert messages[0]["content"] == INPUT_TEXT
    assert [c["name"] for c in messages[1]["tool_calls"]] == [TOOL_NAME]
    assert messages[1]["tool_calls"][0]["args"] == {"query": "weather in san francisco"}
    assert messages[2]["name"] == TOOL_NAME
    assert messages[2]["tool_call_id"] == messages[1]["tool_calls"][0]["id"]
    answer = messages[3]
    assert isinstance(answer["content"], str)
    assert "San Francisco" in answer["content"]
    assert answer["tool_calls"] == []
    return answer


def _strip_kind(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "kind"}


def _event_seq(event_id: str | None) -> int:
    assert event_id is not None
    assert re.fullmatch(r"\d+-\d+", event_id), event_id
    return int(event_id.split("-")[1])


def test_seed_reject_concurrent(node: str, server_url: str) -> None:
    """tests/js/seed.mjs: the seed documents' JS snippets (create, reject, join, state)."""
    lines = _run_node(node, server_url, "seed.mjs")

    thread_id = _one(lines, "step", "thread")["thread_id"]
    run = _one(lines, "step", "run")["run"]
    assert run["thread_id"] == thread_id
    assert run["status"] == "pending"

    second = _one(lines, "step", "second_run")
    assert second["ok"] is False, f"the concurrent run was not rejected: {second}"
    assert second["name"] == "HTTPError"
    assert second["status"] == 409
    assert json.loads(second["text"]) == {"detail": BUSY}
    assert second["message"].startswith("HTTP 409: ")

    # runs.join answers the thread's final values.
    assert _one(lines, "step", "join")["keys"] == ["messages"]
    messages = _one(lines, "step", "state")["messages"]
    _assert_conversation(messages)
    assert not any("nyc" in str(m["content"]) for m in messages)  # the rejected run never ran
    assert _one(lines, "step", "run_status")["status"] == "success"


def test_stream_thread_messages_tuple_and_values(node: str, server_url: str) -> None:
    """client.runs.stream(threadId, "agent", {streamMode: ["messages-tuple", "values"]})."""
    lines = _run_node(node, server_url, "stream.mjs", "thread")
    thread_id = _one(lines, "kind", "thread")["thread_id"]
    end = _one(lines, "kind", "end")  # printed once the for-await loop ended
    events = _events(lines)
    assert end["count"] == len(events)

    first = events[0]
    assert first["event"] == "metadata", first
    assert first["data"]["attempt"] == 1
    run_id = first["data"]["run_id"]
    # onRunCreated gets the ids the SDK parsed from Content-Location.
    assert end["run_created"] == {"run_id": run_id, "thread_id": thread_id}

    names = {e["event"] for e in events}
    assert names == {"metadata", "messages", "values"}, names
    assert [e for e in events if e["event"] == "metadata"] == [first]
    assert all(e["id"] is None for e in events)  # ids only for resumable runs (API.md §6.5)

    values = [e["data"] for e in events if e["event"] == "values"]
    assert values[0]["messages"][0]["content"] == INPUT_TEXT
    final_messages = values[-1]["messages"]
    answer = _assert_conversation(final_messages)
    assert [m["id"] for m in end["state_messages"]] == [m["id"] for m in final_messages]

    tuples = [e["data"] for e in events if e["event"] == "messages"]
    assert all(len(t) == 2 and isinstance(t[1], dict) for t in tuples)
    chunks = [(chunk, meta) for chunk, meta in tuples if chunk["id"] == answer["id"]]
    assert len(chunks) >= 10, f"{len(chunks)} chunks of the answer {answer['id']}"
    assert all(chunk["type"] == "AIMessageChunk" for chunk, _ in chunks)
    assert all(meta["langgraph_node"] == "agent" for _, meta in chunks)
    assert all(meta["run_id"] == run_id and meta["thread_id"] == thread_id for _, meta in chunks)
    assert "".join(chunk["content"] for chunk, _ in chunks) == answer["content"]
    # The tool call streamed as chunks of the first AI message.
    tool_call_chunks = [
        c
        for chunk, _ in tuples
        if chunk["type"] == "AIMessageChunk"
        for c in chunk.get("tool_call_chunks") or []
    ]
    assert any(c["name"] == TOOL_NAME for c in tool_call_chunks)


def test_stream_stateless_values(node: str, server_url: str) -> None:
    """client.runs.stream(null, "agent", {streamMode: "values"}) ends normally with values."""
    lines = _run_node(node, server_url, "stream.mjs", "stateless")
    end = _one(lines, "kind", "end")
    events = _events(lines)
    assert end["count"] == len(events)
    first = events[0]
    assert first["event"] == "metadata", first
    assert first["data"]["attempt"] == 1
    assert end["run_created"]["run_id"] == first["data"]["run_id"]
    assert {e["event"] for e in events[1:]} == {"values"}
    _assert_conversation(events[-1]["data"]["messages"])


def test_join_stream_resumable_run(node: str, server_url: str) -> None:
    """client.runs.create(..., {streamResumable: true}) then client.runs.joinStream(): the
    live events until the run ends, each with an id; then a replay with lastEventId "-1"."""
    lines = _run_node(node, server_url, "stream.mjs", "join")
    run = _one(lines, "kind", "run")
    end = _one(lines, "kind", "end")
    assert run["status"] == "pending"
    assert end["run_status"] == "success"
    answer = _assert_conversation(end["state_messages"])

    # Live join (no Last-Event-ID): no replay, so the stream starts wherever the run was
    # when the join attached, and it ends when the run ends, with its last values.
    live = _events(lines)
    assert end["count"] == len(live)
    assert live, "the join stream yielded no events"
    assert {e["event"] for e in live} <= {"metadata", "messages", "values"}
    live_seqs = [_event_seq(e["id"]) for e in live]
    assert live_seqs == sorted(set(live_seqs))
    assert live[-1]["event"] == "values"
    assert live[-1]["data"]["messages"][-1] == answer

    # Replay from the start: every stored event, the live ones being its tail.
    replay = _events(lines, "replay")
    assert end["replayed"] == len(replay)
    assert replay[0]["event"] == "metadata"
    assert replay[0]["data"] == {"run_id": run["run_id"], "attempt": 1}
    replay_seqs = [_event_seq(e["id"]) for e in replay]
    assert replay_seqs == sorted(set(replay_seqs))
    assert [_strip_kind(e) for e in replay[-len(live) :]] == [_strip_kind(e) for e in live]
    assert replay[-1]["data"]["messages"][-1] == answer
    answer_chunks = [
        e["data"][0]["content"]
        for e in replay
        if e["event"] == "messages" and e["data"][0]["id"] == answer["id"]
    ]
    assert "".join(answer_chunks) == answer["content"]


def test_custom_auth_through_the_js_sdk(node: str, module_database_url: str) -> None:
    """docs/auth's two users through the JS SDK's ``defaultHeaders``: Alice's thread and
    stream work, Bob gets 404 on her thread and does not find it, no token gets 401."""
    config = str(ROOT / "docs" / "auth" / "langgraph.json")
    with running_server(module_database_url, config=config) as url:
        lines = _run_node(node, url, "owners.mjs")
    steps = {line["step"]: line for line in lines}
    assert steps["create"]["owner"] == "alice"
    assert steps["stream"]["events"] >= 2
    assert steps["state"]["messages"] == 4
    for step in ("bob_get", "bob_state", "bob_run"):
        assert steps[step]["status"] == 404, steps[step]
    assert steps["bob_search"]["ids"] == []
    assert steps["anonymous"]["status"] == 401
