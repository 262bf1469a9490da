"""Run the same SDK calls against the official server and Turnstile, and print every
difference in status code and response shape.

    uv run python bench/differential.py            # installs the reference once (cached)

The official dev server (``langgraph-cli[inmem]`` and ``langgraph-api`` from PyPI) is
installed into its own venv under ``~/.cache/turnstile-ref`` and started with
``langgraph dev``; Turnstile serves the same ``langgraph.json`` (graphs of tests/graphs/steps.py
and tests/projects/kitchen_sink/graphs.py) on a fresh database. Each call in ``CALLS`` makes
its own threads and runs on each side (so both sides see the same state), then makes one call
of the official Python SDK (``langgraph_sdk.get_client``). What is compared is the call's
HTTP status and the shape of its answer: the keys, recursively, the type of each value (not
the value), the length of lists and the first item of each; a stream is compared by the
names of its events in order and the shape of each event's data. Values under keys that
are ids or times are not compared, and uuid-looking keys are shown as ``<uuid>``.

Each call prints one line, then its difference lines (``reference vs turnstile``):

    =  the same on both sides
    ~  only differences listed in ``INTENDED`` (each one is in the README, "Where Turnstile
       differs on purpose")
    ≠  a difference not in ``INTENDED``: a bug to fix, or a choice to document and add

The exit code is 1 when any call is ``≠`` (or an ``INTENDED`` line no longer shows up: the
list is stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import ROOT, own_server

CACHE = Path.home() / ".cache" / "turnstile-ref"
REFERENCE = ("langgraph-cli[inmem]", "langgraph-api")
STEPS = ROOT / "tests" / "graphs" / "steps.py"
KITCHEN = ROOT / "tests" / "projects" / "kitchen_sink" / "graphs.py"
GRAPHS = {
    "steps": f"{STEPS}:graph",  # a TypedDict state (typing_extensions), two nodes
    "ask": f"{STEPS}:asking",  # interrupt() without a response schema
    "schema_ask": f"{KITCHEN}:schema_ask",  # interrupt(..., response_schema=...)
    "plain": f"{KITCHEN}:plain",  # a typing.TypedDict state
    "configured": f"{STEPS}:configured",  # a context schema
}
NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


def system_assistant(graph_id: str) -> str:
    """The id of a graph's system assistant (the same on both servers)."""
    return str(uuid.uuid5(NAMESPACE, graph_id))


def reference_venv() -> Path:
    """The official server's venv (created and installed once)."""
    python = CACHE / ".venv" / "bin" / "python"
    if not python.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(CACHE / ".venv")], check=True)
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(python), *REFERENCE], check=True
        )
    return CACHE / ".venv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project() -> Path:
    """The ``langgraph.json`` both servers serve."""
    path = CACHE / "project" / "langgraph.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dependencies": ["."], "graphs": GRAPHS}, indent=2))
    return path


@contextlib.contextmanager
def reference_server(
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    log_name: str = "dev-server.log",
    pids: list[int] | None = None,
) -> Iterator[str]:
    """``langgraph dev`` on ``config`` (with ``args`` and ``env`` added); its pid is
    appended to ``pids``."""
    venv = reference_venv()
    port = _free_port()
    # The dev server keeps its data here (LANGGRAPH_DISABLE_FILE_PERSISTENCE or not) and
    # loads it at start: start from none, as Turnstile starts from a fresh database.
    shutil.rmtree(config.parent / ".langgraph_api", ignore_errors=True)
    log = open(CACHE / log_name, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(config),
            *args,
        ],
        cwd=config.parent,
        env={
            **os.environ,
            **(env or {}),
            "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true",
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if pids is not None:
        pids.append(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"the reference server did not start: see {log.name}")
        if proc.poll() is not None:
            raise RuntimeError(f"the reference server exited: see {log.name}")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


# --- one side: a client, and the status codes of the responses it got ------------------


@dataclass
class Side:
    """One server's SDK client. ``statuses`` records the status of every response; ``call``
    and ``stream`` clear it first, so the first status after them is the measured call's."""

    url: str
    statuses: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.c = get_client(url=self.url, api_key=None, timeout=60)
        self.c.http.client.event_hooks["response"].append(self._record)

    async def _record(self, response: httpx.Response) -> None:
        self.statuses.append(response.status_code)

    async def call(self, awaitable: Awaitable[Any]) -> Any:
        self.statuses.clear()
        return await awaitable

    async def stream(self, parts: AsyncIterator[Any]) -> Events:
        self.statuses.clear()
        return Events([(part.event, part.data) async for part in parts])

    # Setups: each call makes its own, so both sides hold the same state.

    async def thread(self, **metadata: Any) -> str:
        return str((await self.c.threads.create(metadata=metadata or None))["thread_id"])

    async def finished(self, **metadata: Any) -> tuple[str, str]:
        """A thread with one finished run of ``steps``: (thread id, run id)."""
        tid = await self.thread(**metadata)
        run = await self.c.runs.create(tid, "steps", input={"label": "d"})
        await self.c.runs.join(tid, run["run_id"])
        return tid, str(run["run_id"])

    async def interrupted(self, graph: str = "ask") -> str:
        """A thread stopped on ``graph``'s interrupt()."""
        tid = await self.thread()
        await self.c.runs.wait(tid, graph, input={})
        return tid

    async def running(self, sleep: float = 3.0) -> tuple[str, str]:
        """A thread whose run of ``steps`` is running (its first node sleeps)."""
        tid = await self.thread()
        run = await self.c.runs.create(tid, "steps", input={"label": "r", "sleep": sleep})
        rid = str(run["run_id"])
        deadline = time.monotonic() + 30
        while (await self.c.runs.get(tid, rid))["status"] == "pending":
            if time.monotonic() > deadline:
                raise RuntimeError("a run did not start in 30 s")
            await asyncio.sleep(0.05)
        return tid, rid

    async def assistant(self) -> str:
        made = await self.c.assistants.create(
            "steps", config={"configurable": {"a": 1}}, metadata={"dc": "1"}, name="dc"
        )
        return str(made["assistant_id"])


@dataclass
class Events:
    """A stream's parts: (event name, data), in order."""

    parts: list[tuple[str, Any]]


Call = Callable[[Side], Awaitable[Any]]


CALLS: dict[str, Call] = {}


def call(name: str) -> Callable[[Call], Call]:
    def register(fn: Call) -> Call:
        CALLS[name] = fn
        return fn

    return register


def simple(name: str, make: Callable[[Side], Any]) -> None:
    """A call with no setup of its own (``make`` returns the SDK call's awaitable)."""

    async def run(s: Side) -> Any:
        return await s.call(make(s))

    CALLS[name] = run


# Threads


simple("threads.create", lambda s: s.c.threads.create(metadata={"k": "v"}))


@call("threads.get")
async def _threads_get(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.threads.get(tid))


@call("threads.get interrupted")
async def _threads_get_interrupted(s: Side) -> Any:
    tid = await s.interrupted()
    return await s.call(s.c.threads.get(tid))


@call("threads.search")
async def _threads_search(s: Side) -> Any:
    await s.finished(dc="search")
    return await s.call(s.c.threads.search(metadata={"dc": "search"}, limit=2))


@call("threads.count")
async def _threads_count(s: Side) -> Any:
    await s.thread(dc="count")
    return await s.call(s.c.threads.count(metadata={"dc": "count"}))


@call("threads.copy")
async def _threads_copy(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.threads.copy(tid))


@call("threads.update")
async def _threads_update(s: Side) -> Any:
    tid = await s.thread(a=1)
    return await s.call(s.c.threads.update(tid, metadata={"b": 2}))


@call("threads.update return_minimal (PATCH)")
async def _threads_patch(s: Side) -> Any:
    tid = await s.thread(a=1)
    return await s.call(s.c.threads.update(tid, metadata={"b": 2}, return_minimal=True))


@call("threads.get_state")
async def _threads_get_state(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.threads.get_state(tid))


@call("threads.get_state interrupted")
async def _threads_get_state_interrupted(s: Side) -> Any:
    tid = await s.interrupted()
    return await s.call(s.c.threads.get_state(tid))


@call("threads.get_history")
async def _threads_get_history(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.threads.get_history(tid, limit=2))


@call("threads.update_state")
async def _threads_update_state(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.threads.update_state(tid, {"label": "u"}, as_node="finish"))


simple(
    "threads.get missing (404 body)",
    lambda s: s.c.threads.get("00000000-0000-0000-0000-000000000000"),
)

# Assistants

simple(
    "assistants.create",
    lambda s: s.c.assistants.create(
        "steps", config={"configurable": {"a": 1}}, metadata={"dc": "1"}, name="dc"
    ),
)


@call("assistants.get")
async def _assistants_get(s: Side) -> Any:
    return await s.call(s.c.assistants.get(await s.assistant()))


simple("assistants.search", lambda s: s.c.assistants.search(graph_id="steps"))
simple("assistants.count", lambda s: s.c.assistants.count(graph_id="steps"))


@call("assistants.update")
async def _assistants_update(s: Side) -> Any:
    aid = await s.assistant()
    return await s.call(s.c.assistants.update(aid, metadata={"b": 2}, name="dc2"))


@call("assistants.get_versions")
async def _assistants_versions(s: Side) -> Any:
    aid = await s.assistant()
    await s.c.assistants.update(aid, metadata={"b": 2})
    return await s.call(s.c.assistants.get_versions(aid))


simple("assistants.get_graph by graph id", lambda s: s.c.assistants.get_graph("steps"))
simple("assistants.get_schemas by graph id", lambda s: s.c.assistants.get_schemas("steps"))
simple(
    "assistants.get_schemas (TypedDict state)",
    lambda s: s.c.assistants.get_schemas(system_assistant("steps")),
)
simple(
    "assistants.get_schemas (typing.TypedDict state)",
    lambda s: s.c.assistants.get_schemas(system_assistant("plain")),
)
simple(
    "assistants.get_schemas (context schema)",
    lambda s: s.c.assistants.get_schemas(system_assistant("configured")),
)
simple(
    "assistants.create configurable+context",
    lambda s: s.c.assistants.create("steps", config={"configurable": {"a": 1}}, context={"b": 2}),
)

# Runs


@call("runs.create")
async def _runs_create(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(s.c.runs.create(tid, "steps", input={"label": "c"}))


@call("runs.wait")
async def _runs_wait(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(s.c.runs.wait(tid, "steps", input={"label": "w"}))


@call("runs.join")
async def _runs_join(s: Side) -> Any:
    tid = await s.thread()
    run = await s.c.runs.create(tid, "steps", input={"label": "j"})
    return await s.call(s.c.runs.join(tid, run["run_id"]))


@call("runs.stream values+updates")
async def _runs_stream(s: Side) -> Any:
    tid = await s.thread()
    parts = s.c.runs.stream(tid, "steps", input={"label": "s"}, stream_mode=["values", "updates"])
    return await s.stream(parts)


@call("runs.stream interrupt (values)")
async def _runs_stream_interrupt(s: Side) -> Any:
    tid = await s.thread()
    return await s.stream(s.c.runs.stream(tid, "schema_ask", input={}))


@call("runs.stream interrupt without a schema (updates)")
async def _runs_stream_interrupt_updates(s: Side) -> Any:
    tid = await s.thread()
    return await s.stream(s.c.runs.stream(tid, "ask", input={}, stream_mode="updates"))


@call("runs.join_stream stream_mode=values")
async def _runs_join_stream(s: Side) -> Any:
    """Join a run queued behind another one, so the join sees every event of it."""
    tid, _ = await s.running(sleep=1.0)
    run = await s.c.runs.create(tid, "steps", input={"label": "j"}, multitask_strategy="enqueue")
    return await s.stream(s.c.runs.join_stream(tid, run["run_id"], stream_mode="values"))


@call("runs.cancel wait=True")
async def _runs_cancel_wait(s: Side) -> Any:
    tid, rid = await s.running()
    return await s.call(s.c.runs.cancel(tid, rid, wait=True))


@call("runs.list")
async def _runs_list(s: Side) -> Any:
    tid, _ = await s.finished()
    return await s.call(s.c.runs.list(tid))


@call("runs.get")
async def _runs_get(s: Side) -> Any:
    tid, rid = await s.finished()
    return await s.call(s.c.runs.get(tid, rid))


@call("runs.create reject on a running thread")
async def _runs_reject(s: Side) -> Any:
    tid, _ = await s.running()
    return await s.call(s.c.runs.create(tid, "steps", input={}, multitask_strategy="reject"))


@call("runs.wait interrupt")
async def _runs_wait_interrupt(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(s.c.runs.wait(tid, "ask", input={}))


@call("runs.wait resume input={} + command")
async def _resume(s: Side) -> Any:
    """agent-chat-ui's resume: ``input={}`` beside ``command``."""
    tid = await s.interrupted()
    return await s.call(s.c.runs.wait(tid, "ask", input={}, command={"resume": "yes"}))


@call("runs.join after the end (interrupted)")
async def _runs_join_ended(s: Side) -> Any:
    tid = await s.thread()
    run = await s.c.runs.create(tid, "ask", input={})
    await s.c.runs.join(tid, run["run_id"])
    return await s.call(s.c.runs.join(tid, run["run_id"]))


@call("runs.wait interrupt with response_schema")
async def _runs_wait_schema(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(s.c.runs.wait(tid, "schema_ask", input={}))


@call("threads.get_state interrupt fields (response_schema)")
async def _interrupt_fields(s: Side) -> Any:
    tid = await s.interrupted("schema_ask")
    state = await s.call(s.c.threads.get_state(tid))
    return state["tasks"][0]["interrupts"][0]


# Crons


@call("crons.create_for_thread")
async def _crons_create_for_thread(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(
        s.c.crons.create_for_thread(tid, "steps", schedule="0 0 1 1 *", input={}, metadata={"m": 1})
    )


@call("crons.create_for_thread configurable+context")
async def _crons_both(s: Side) -> Any:
    tid = await s.thread()
    return await s.call(
        s.c.crons.create_for_thread(
            tid,
            "steps",
            schedule="0 0 1 1 *",
            config={"configurable": {"a": 1}},
            context={"b": 2},
        )
    )


# Store


async def _store_ready(s: Side) -> None:
    await s.c.store.put_item(["dc", "a"], "k", {"v": 1})


simple("store.put_item", lambda s: s.c.store.put_item(["dc", "a"], "k", {"v": 1}))


@call("store.get_item")
async def _store_get(s: Side) -> Any:
    await _store_ready(s)
    return await s.call(s.c.store.get_item(["dc", "a"], "k"))


# Not under ["dc"]: the in-memory dev server lists a namespace once a get looked in it (its
# store is a defaultdict), which would show in store.list_namespaces below.
simple("store.get_item missing", lambda s: s.c.store.get_item(["elsewhere"], "k"))


@call("store.search_items")
async def _store_search(s: Side) -> Any:
    await _store_ready(s)
    return await s.call(s.c.store.search_items(["dc"]))


@call("store.list_namespaces")
async def _store_namespaces(s: Side) -> Any:
    await _store_ready(s)
    return await s.call(s.c.store.list_namespaces(prefix=["dc"]))


@call("store.delete_item")
async def _store_delete(s: Side) -> Any:
    await _store_ready(s)
    return await s.call(s.c.store.delete_item(["dc", "a"], "k"))


# --- the differences kept on purpose ----------------------------------------------------

# call name -> the difference lines (reference vs turnstile) it may show. Each group is one
# bullet of README "Where Turnstile differs on purpose"; a line not listed here is ``≠``.


def _only(side: str, *keys: str, under: str = "") -> list[str]:
    return [f"{under}{key}: only {side}" for key in keys]


# "Threads carry values, interrupts and error in every answer"
_THREAD_KEYS = _only("turnstile", "error", "interrupts")
# "Checkpoint metadata has thread_id, ... but not the reference's deployment keys"
_DEPLOYMENT_KEYS = (
    "langgraph_api_url",
    "langgraph_api_version",
    "langgraph_host",
    "langgraph_plan",
    "langgraph_request_id",
    "langgraph_version",
    "user_id",
)
_METADATA = _only("reference", *_DEPLOYMENT_KEYS, under="metadata.") + _only(
    "turnstile", "user-agent", under="metadata."
)
# "Run kwargs carry waited, strict_resume, on_completion and events_when_watched" and "a
# run's kwargs.config holds the config, the run's ids and the copied headers"
_KWARGS = (
    _only(
        "turnstile",
        "events_when_watched",
        "on_completion",
        "strict_resume",
        "waited",
        under="kwargs.",
    )
    + _only("reference", "metadata", under="kwargs.config.")
    + _only(
        "reference",
        "__after_seconds__",
        "__request_start_time_ms__",
        "langgraph_request_id",
        "user_id",
        under="kwargs.config.configurable.",
    )
    + _only("turnstile", "user-agent", under="kwargs.config.configurable.")
)
_RAN = _KWARGS + _only("reference", "__pregel_node_finished", under="kwargs.config.configurable.")
_CRON_FIELDS = (
    "assistant_id",
    "created_at",
    "cron_id",
    "enabled",
    "end_time",
    "metadata",
    "next_run_date",
    "on_run_completed",
    "payload",
    "schedule",
    "thread_id",
    "timezone",
    "updated_at",
    "user_id",
)
_SCHEMAS = (
    "config_schema",
    "context_schema",
    "graph_id",
    "input_schema",
    "output_schema",
    "state_schema",
)


def _first(lines: list[str]) -> list[str]:
    return ["[0]." + line for line in lines]


INTENDED: dict[str, list[str]] = {
    "threads.create": _THREAD_KEYS,
    "threads.update": _THREAD_KEYS,
    "threads.copy": _THREAD_KEYS + _only("turnstile", "values"),
    "threads.get_state": _METADATA,
    "threads.get_state interrupted": _METADATA,
    "threads.get_history": _first(_METADATA),
    # "The assistant endpoints accept a graph id wherever they take an assistant id"
    "assistants.get_schemas by graph id": [
        "status 422 vs 200",
        *_only("reference", "detail"),
        *_only("turnstile", *_SCHEMAS),
    ],
    "runs.create": _KWARGS,
    "runs.get": _RAN,
    "runs.list": _first(_RAN),
    # "A join of a run that has ended answers that run's output"
    "runs.join after the end (interrupted)": _only(
        "turnstile", "log", "__interrupt__.[0].response_schema"
    ),
    # "a crons' create with both configurable and context answers 400"
    "crons.create_for_thread configurable+context": [
        "status 200 vs 400",
        *_only("reference", *_CRON_FIELDS),
        *_only("turnstile", "detail"),
    ],
}


# --- shapes and differences -------------------------------------------------------------

VOLATILE = re.compile(r"_id$|_at$|^id$|date|time")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def shape(value: Any) -> Any:
    """Keys (recursively), the type of each value, list lengths and first items."""
    if isinstance(value, Events):
        out: dict[str, Any] = {"events": " ".join(name for name, _ in value.parts)}
        for name, data in value.parts:  # each event name: the shape of all its data
            out[f"data of {name}"] = merged(out.get(f"data of {name}"), shape(data))
        return out
    if isinstance(value, dict):
        return {
            ("<uuid>" if UUID.match(k) else k): ("…" if VOLATILE.search(k) else shape(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return Items(len(value), shape(value[0]) if value else None)
    return type(value).__name__


@dataclass
class Items:
    """A list's shape: its length and its first item's shape."""

    length: int
    first: Any


def merged(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {
            k: merged(a.get(k), b.get(k)) if k in a and k in b else a.get(k, b.get(k))
            for k in a.keys() | b.keys()
        }
    return b if a is None else a


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}{k}: only reference" for k in sorted(a.keys() - b.keys())]
        out += [f"{path}{k}: only turnstile" for k in sorted(b.keys() - a.keys())]
        for k in sorted(a.keys() & b.keys()):
            out += differences(a[k], b[k], f"{path}{k}.")
        return out
    if isinstance(a, Items) and isinstance(b, Items):
        out = [] if a.length == b.length else [f"{path}length: {a.length} vs {b.length}"]
        if a.first is not None and b.first is not None:
            out += differences(a.first, b.first, f"{path}[0].")
        return out
    if a != b and "…" not in (a, b):
        return [f"{path.rstrip('.')}: {brief(a)} vs {brief(b)}"]
    return []


def brief(value: Any) -> str:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, Items):
        return "list"
    return str(value)


async def answer(side: Side, fn: Call) -> tuple[int | None, Any]:
    """The measured call's status and the shape of its answer (an error's body)."""
    try:
        body = await fn(side)
    except httpx.HTTPStatusError as e:
        status = e.response.status_code
        body = getattr(e, "body", None)
        if body is None:
            with contextlib.suppress(ValueError, httpx.ResponseNotRead):
                body = e.response.json() if e.response.content else None
        return status, shape(body)
    return (side.statuses[0] if side.statuses else None), shape(body)


async def answers(url: str) -> dict[str, tuple[int | None, Any]]:
    side = Side(url)
    out = {}
    for name, fn in CALLS.items():
        try:
            out[name] = await answer(side, fn)
        except Exception as e:  # a setup that failed: shown as its own difference
            out[name] = (None, {"setup failed": f"{type(e).__name__}: {e}"})
    await side.c.aclose()
    return out


def main() -> int:
    config = project()
    with reference_server(config) as ref_url, own_server(config=str(config)) as ours:
        reference = asyncio.run(answers(ref_url))
        turnstile = asyncio.run(answers(ours.url))
    unexpected = 0
    marks = {"=": 0, "~": 0, "≠": 0}
    for name in CALLS:
        (rs, rb), (ts, tb) = reference[name], turnstile[name]
        diff = ([f"status {rs} vs {ts}"] if rs != ts else []) + differences(rb, tb)
        intended = INTENDED.get(name, [])
        surprises = [line for line in diff if line not in intended]
        stale = [line for line in intended if line not in diff]
        mark = "≠" if surprises or stale else "~" if diff else "="
        marks[mark] += 1
        print(f"{mark} {name}" + (f"  ({rs})" if rs == ts else ""))
        if (
            isinstance(rb, dict)
            and isinstance(tb, dict)
            and rb.get("events", 0) == tb.get("events")
        ):
            print(f"    events: {rb['events']}")  # a stream: its event names, in order
        for line in diff:
            print(f"    {'  ' if line in intended else '! '}{line}")
        for line in stale:
            print(f"    ? {line}  (in INTENDED, not seen)")
        unexpected += len(surprises) + len(stale)
    print(
        f"\n{len(CALLS)} calls: {marks['=']} the same, {marks['~']} with intended differences"
        f" only, {marks['≠']} with unexpected ones; {unexpected} unexpected difference(s)"
    )
    return 1 if unexpected else 0


if __name__ == "__main__":
    raise SystemExit(main())
