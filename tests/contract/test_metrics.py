"""``/metrics`` moves as runs happen, counted in every process of the host: a ``serve
--no-worker`` and a separate ``turnstile worker`` share ``TURNSTILE_METRICS_DIR``, so the
runs the worker executes show in the API's scrape. Their logs (``LOG_JSON``) are JSON
lines that carry the run's and the request's ids; access lines show the headers
``http.logging_headers`` names and no others."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from prometheus_client.parser import text_string_to_metric_families

from tests.server import ROOT, running_server, running_worker

CONFIG = str(Path(__file__).resolve().parents[1] / "graphs" / "observed.json")
JOBS = 3


class System:
    def __init__(self, url: str, worker_log: Path) -> None:
        self.url = url
        self.worker_log = worker_log

    @property
    def server_log(self) -> Path:
        return ROOT / ".pytest_cache" / "servers" / f"server-{self.url.rsplit(':', 1)[1]}.log"


@pytest.fixture(scope="module")
def system(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {"TURNSTILE_METRICS_DIR": str(tmp_path_factory.mktemp("metrics")), "LOG_JSON": "true"}
    logs: list[Path] = []
    with (
        running_server(
            module_database_url, config=CONFIG, extra_args=("--no-worker",), env=env
        ) as url,
        running_worker(module_database_url, config=CONFIG, jobs=JOBS, env=env, logs=logs),
    ):
        yield System(url, logs[0])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(base_url=url) as http:
        res = await http.get("/metrics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(res.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


async def moved(url: str, check: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``check`` holds (a worker counts a run's end just after its commit,
    which is when its waiter is answered), with a deadline."""
    deadline = time.monotonic() + 10
    while True:
        now = await scrape(url)
        if check(now):
            return now
        assert time.monotonic() < deadline, f"{what}: not counted within 10 s"
        await asyncio.sleep(0.05)


async def test_runs_executed_by_a_separate_worker_are_counted_by_status(system: System) -> None:
    client = get_client(url=system.url)
    before = await scrape(system.url)
    tid = (await client.threads.create())["thread_id"]
    out = await client.runs.wait(tid, "noisy", input={"label": "m1"})
    assert out["log"] == ["spoke:m1", "closed"]
    ftid = (await client.threads.create())["thread_id"]
    await client.runs.wait(ftid, "fail", input={"label": "m3"}, raise_error=False)

    def finished(s: Samples) -> bool:
        return (
            value(s, "turnstile_runs_finished_total", status="error")
            >= value(before, "turnstile_runs_finished_total", status="error") + 1
            and value(s, "turnstile_runs_finished_total", status="success")
            >= value(before, "turnstile_runs_finished_total", status="success") + 1
        )

    after = await moved(system.url, finished, "the runs' ends")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("turnstile_runs_finished_total", status="success", multitask_strategy="enqueue")
    # Created in the API process, claimed and finished in the worker process.
    assert delta("turnstile_runs_created_total") >= 2
    assert delta("turnstile_run_claims_total", attempt="first") >= 2
    assert delta("lg_api_run_queue_wait_time_1st_attempt_count") >= 2
    assert delta("lg_api_run_execution_latency_count", status="success") >= 1
    assert delta("lg_api_run_execution_latency_count", status="error") >= 1
    assert delta("turnstile_stream_events_total") >= 3  # metadata, values..., error
    assert value(after, "lg_api_workers_max") == JOBS  # the worker process's slots
    assert value(after, "turnstile_runs_pending") >= 0  # read from the database now
    assert value(after, "turnstile_database_up") == 1


async def test_a_409_is_counted_with_its_route_template(system: System) -> None:
    client = get_client(url=system.url)
    tid = (await client.threads.create())["thread_id"]
    slow = await client.runs.create(tid, "noisy", input={"label": "busy", "sleep": 30})
    before = await scrape(system.url)
    async with httpx.AsyncClient(base_url=system.url) as http:
        res = await http.post(
            f"/threads/{tid}/runs",
            json={"assistant_id": "noisy", "input": {}, "multitask_strategy": "reject"},
        )
    assert res.status_code == 409
    after = await scrape(system.url)
    route = {"method": "POST", "path": "/threads/{thread_id}/runs"}
    assert value(after, "turnstile_conflicts_total", error="ThreadBusy") == (
        value(before, "turnstile_conflicts_total", error="ThreadBusy") + 1
    )
    assert value(after, "lg_api_http_requests_total", **route, status="409") == (
        value(before, "lg_api_http_requests_total", **route, status="409") + 1
    )
    assert value(after, "lg_api_http_requests_latency_count", **route) == (
        value(before, "lg_api_http_requests_latency_count", **route) + 1
    )
    assert value(after, "turnstile_runs_created_total", multitask_strategy="reject") == value(
        before, "turnstile_runs_created_total", multitask_strategy="reject"
    )
    # Probes are left out, as the official server does.
    assert not [
        k for k in after if k[0] == "lg_api_http_requests_total" and ("path", "/ok") in k[1]
    ]
    await client.runs.cancel(tid, slow["run_id"], wait=True)


async def test_json_has_the_official_shape(system: System) -> None:
    client = get_client(url=system.url)
    await client.threads.create()
    async with httpx.AsyncClient(base_url=system.url) as http:
        body = (await http.get("/metrics", params={"format": "json"})).json()
    assert {"n_pending", "n_running", "pending_runs_wait_time_max_secs"} <= set(body["queue"])
    assert body["workers"] == {
        "max": JOBS,
        "active": body["workers"]["active"],
        "available": JOBS - body["workers"]["active"],
    }
    created = [
        e
        for e in body["api"]["http_requests_total"]
        if (e["method"], e["path"]) == ("POST", "/threads")
    ]
    assert created
    assert created[0]["status"] == 200
    assert created[0]["count"] >= 1


def _json_lines(path: Path) -> list[dict[str, Any]]:
    """The log's lines as objects; every line but the CLI's progress lines must parse."""
    out = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("turnstile: "):
            continue
        out.append(json.loads(line))
    return out


async def _until(found: Callable[[], Awaitable[list[Any]] | list[Any]], what: str) -> list[Any]:
    deadline = time.monotonic() + 10
    while True:
        got = found()
        items = await got if asyncio.iscoroutine(got) else got
        if items:
            return items  # type: ignore[return-value]
        assert time.monotonic() < deadline, f"{what} not logged within 10 s"
        await asyncio.sleep(0.05)


async def test_log_lines_are_json_and_carry_the_ids(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url) as http:
        tid = (await http.post("/threads", json={})).json()["thread_id"]
        res = await http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "noisy", "input": {"label": "logs"}},
            headers={
                "x-request-id": "req-observed-1",
                "x-trace-id": "t-1",
                "x-trace-secret": "hidden",
                "authorization": "Bearer hidden",
            },
        )
        assert res.status_code == 200
        assert res.headers["x-request-id"] == "req-observed-1"
        rid = res.headers["content-location"].rsplit("/", 1)[1]
    # The graph's own line, in the worker process, carries the run's ids.
    (spoke,) = await _until(
        lambda: [
            line for line in _json_lines(system.worker_log) if line["event"] == "speaking for logs"
        ],
        "the node's line",
    )
    assert spoke["logger"] == "tests.noisy"
    assert spoke["run_id"] == rid
    assert spoke["thread_id"] == tid
    assert spoke["attempt"] == 1
    assert spoke["worker"].count(":") == 2  # host:pid:random
    # The access line of the request carries its id and only the headers configured.
    (access,) = await _until(
        lambda: [
            line
            for line in _json_lines(system.server_log)
            if line.get("request_id") == "req-observed-1" and line["logger"] == "turnstile.access"
        ],
        "the access line",
    )
    assert access["route"] == "/threads/{thread_id}/runs/wait"
    assert access["status"] == 200
    assert access["req_header"] == {
        "x-trace-id": "t-1",
        "user-agent": access["req_header"]["user-agent"],
    }
    assert "hidden" not in json.dumps(access)
