"""``serve --worker-processes N``: runs execute in child worker processes, which stop with
``serve`` (SIGTERM: gracefully; SIGKILL: killed with it, their runs recovered as usual)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from prometheus_client.parser import text_string_to_metric_families

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


async def _finished_counted(url: str, runs: int) -> bool:
    """Whether serve's /metrics counts ``runs`` successful runs and both children's worker
    slots (a child counts a run's end just after its commit: scraped until a deadline)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        async with httpx.AsyncClient(base_url=url) as http:
            text = (await http.get("/metrics")).text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        done = sum(
            v
            for (name, labels), v in samples.items()
            if name == "turnstile_runs_finished_total" and ("status", "success") in labels
        )
        if done >= runs and samples.get(("lg_api_workers_max", ())) == 2 * 3:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_runs_execute_in_child_workers_that_stop_with_serve(
    module_database_url: str, stop: int
) -> None:
    pids: list[int] = []
    codes: list[int] = []
    with running_server(
        module_database_url,
        config=GRAPHS,
        extra_args=("--worker-processes", "2", "--workers", "3"),
        pids=pids,
        stop_signal=stop,
        exit_codes=codes,
    ) as url:
        client = get_client(url=url)
        children = _children(pids[0])
        assert len(children) == 2
        tid = (await client.threads.create())["thread_id"]
        out = await client.runs.wait(tid, "single", input={"label": "w"})
        assert out["log"] == ["w"]
        # Runs are executed by the children: a busy thread's worker names a child's pid.
        slow = await client.runs.create(tid, "steps", input={"label": "s", "sleep": 1})
        conn = await asyncpg.connect(module_database_url)
        try:
            worker = None
            for _ in range(100):
                worker = await conn.fetchval(
                    "SELECT worker FROM busy_threads WHERE run_id = $1", uuid.UUID(slow["run_id"])
                )
                if worker:
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert worker is not None
        assert int(worker.split(":")[1]) in children
        await client.runs.join(tid, slow["run_id"])
        if stop == signal.SIGTERM:  # the children's counts reach serve's scrape
            assert await _finished_counted(url, 2), "the children's runs are not in /metrics"
    for _ in range(150):  # running_server waited for serve; the children go with it
        if not any(_alive(c) for c in children):
            break
        await asyncio.sleep(0.1)
    assert not [c for c in children if _alive(c)]
    assert codes == ([0] if stop == signal.SIGTERM else [-signal.SIGKILL])
