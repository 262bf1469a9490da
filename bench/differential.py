"""Run the same SDK calls against the official server and Turnstile, and print every
difference in status code and response shape.

    uv run python bench/differential.py            # installs the reference once (cached)

The official dev server (``langgraph-cli[inmem]`` and ``langgraph-api`` from PyPI) is
installed into its own venv under ``~/.cache/turnstile-ref`` and started with
``langgraph dev`` on tests/graphs (the same graphs Turnstile serves here, on a fresh
database). Each call is made against both; the report lists, per call, the two status codes
and the response keys one side has and the other lacks (values that are ids or times are
not compared). The differences Turnstile keeps on purpose are in the README ("Where
Turnstile differs on purpose"); anything else printed here is a bug to fix or to explain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import GRAPHS, own_server

CACHE = Path.home() / ".cache" / "turnstile-ref"
REFERENCE = ("langgraph-cli[inmem]", "langgraph-api")
Call = Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[httpx.Response]]


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


@contextlib.contextmanager
def reference_server() -> Iterator[str]:
    """``langgraph dev`` on the test graphs the comparison uses (tests/graphs/steps.py)."""
    venv = reference_venv()
    port = _free_port()
    project = CACHE / "project"
    project.mkdir(exist_ok=True)
    steps = Path(GRAPHS).parent / "steps.py"
    config = {
        "dependencies": ["."],
        "graphs": {"steps": f"{steps}:graph", "ask": f"{steps}:asking"},
    }
    (project / "langgraph.json").write_text(json.dumps(config))
    log = open(CACHE / "dev-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--port",
            str(port),
        ],
        cwd=project,
        env={**os.environ, "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the reference server did not start: see {log.name}")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


async def _thread(http: httpx.AsyncClient) -> str:
    return str((await http.post("/threads", json={})).json()["thread_id"])


async def _finished_run(http: httpx.AsyncClient, ctx: dict[str, Any]) -> tuple[str, str]:
    tid = await _thread(http)
    r = await http.post(
        f"/threads/{tid}/runs", json={"assistant_id": "steps", "input": {"label": "d"}}
    )
    rid = r.json()["run_id"]
    await http.get(f"/threads/{tid}/runs/{rid}/join")
    return tid, rid


async def _interrupted(http: httpx.AsyncClient) -> str:
    tid = await _thread(http)
    await http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "ask", "input": {}})
    return tid


CALLS: dict[str, Call] = {
    "threads.create": lambda h, c: h.post("/threads", json={"metadata": {"k": "v"}}),
    "threads.search": lambda h, c: h.post("/threads/search", json={"limit": 2}),
    "assistants.search": lambda h, c: h.post("/assistants/search", json={"graph_id": "steps"}),
    "assistants.create configurable+context": lambda h, c: h.post(
        "/assistants",
        json={"graph_id": "steps", "config": {"configurable": {"a": 1}}, "context": {"b": 2}},
    ),
    "assistants.graph by graph id": lambda h, c: h.get("/assistants/steps/graph"),
    "assistants.schemas by graph id": lambda h, c: h.get("/assistants/steps/schemas"),
    "runs.wait": lambda h, c: h.post(
        f"/threads/{c['tid']}/runs/wait", json={"assistant_id": "steps", "input": {"label": "w"}}
    ),
    "runs.wait reject on busy thread": lambda h, c: h.post(
        f"/threads/{c['busy']}/runs",
        json={"assistant_id": "steps", "input": {}, "multitask_strategy": "reject"},
    ),
    "runs.get": lambda h, c: h.get(f"/threads/{c['tid']}/runs/{c['rid']}"),
    "runs.list": lambda h, c: h.get(f"/threads/{c['tid']}/runs"),
    "threads.get_state": lambda h, c: h.get(f"/threads/{c['tid']}/state"),
    "threads.get_history": lambda h, c: h.post(f"/threads/{c['tid']}/history", json={"limit": 2}),
    "threads.get_state interrupted": lambda h, c: h.get(f"/threads/{c['asked']}/state"),
    "runs.wait input {} + command": lambda h, c: h.post(
        f"/threads/{c['asked']}/runs/wait",
        json={"assistant_id": "ask", "input": {}, "command": {"resume": "yes"}},
    ),
    "crons.create_for_thread": lambda h, c: h.post(
        f"/threads/{c['tid']}/runs/crons",
        json={"assistant_id": "steps", "schedule": "0 0 1 1 *", "input": {}, "metadata": {"m": 1}},
    ),
    "store.put_item": lambda h, c: h.put(
        "/store/items", json={"namespace": ["d"], "key": "k", "value": {"v": 1}}
    ),
    "store.get_item": lambda h, c: h.get("/store/items", params={"namespace": "d", "key": "k"}),
    "store.search_items": lambda h, c: h.post(
        "/store/items/search", json={"namespace_prefix": ["d"]}
    ),
    "threads.get missing": lambda h, c: h.get("/threads/00000000-0000-0000-0000-000000000000"),
}

VOLATILE = re.compile(r"_id$|_at$|^id$|^run_id$|date|time|checkpoint")


def shape(value: Any, depth: int = 0) -> Any:
    """The keys (recursively, two levels) of a JSON answer; lists by their first item."""
    if depth > 2:
        return type(value).__name__
    if isinstance(value, dict):
        return {k: shape(v, depth + 1) for k, v in value.items() if not VOLATILE.search(k)} | {
            k: "…" for k in value if VOLATILE.search(k)
        }
    if isinstance(value, list):
        return [shape(value[0], depth + 1)] if value else []
    return type(value).__name__


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}{k}: only reference" for k in a.keys() - b.keys()]
        out += [f"{path}{k}: only turnstile" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            out += differences(a[k], b[k], f"{path}{k}.")
        return out
    if isinstance(a, list) and isinstance(b, list) and a and b:
        return differences(a[0], b[0], f"{path}[0].")
    if a != b and "…" not in (a, b):
        return [f"{path.rstrip('.')}: {a} vs {b}"]
    return []


async def answers(url: str) -> dict[str, tuple[int, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        tid, rid = await _finished_run(http, {})
        busy = await _thread(http)
        await http.post(
            f"/threads/{busy}/runs", json={"assistant_id": "steps", "input": {"sleep": 5}}
        )
        ctx = {"tid": tid, "rid": rid, "busy": busy, "asked": await _interrupted(http)}
        out = {}
        for name, call in CALLS.items():
            r = await call(http, ctx)
            body = None
            with contextlib.suppress(ValueError):
                body = r.json() if r.content else None
            out[name] = (r.status_code, shape(body))
        return out


def main() -> int:
    with reference_server() as ref_url, own_server() as ours:
        reference = asyncio.run(answers(ref_url))
        turnstile = asyncio.run(answers(ours.url))
    found = 0
    for name in CALLS:
        (rs, rb), (ts, tb) = reference[name], turnstile[name]
        diff = ([f"status {rs} vs {ts}"] if rs != ts else []) + differences(rb, tb)
        print(f"{'=' if not diff else '≠'} {name}")
        for line in diff:
            print(f"    {line}")
        found += bool(diff)
    print(f"\n{found} of {len(CALLS)} calls differ (reference vs turnstile)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
