"""Bounded memory: thousands of runs with large states through the SDK against a real
server process; the server's RSS after the soak stays within 20% of its RSS after the
first fifth of the runs (the caches are bounded in bytes, not in entries). 2,000 runs by
default (a leak of a run's values, 200 KiB, would add ~300 MiB); ``TURNSTILE_SOAK_RUNS``
for a longer soak."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parent / "graphs" / "langgraph.json")
RUNS = int(os.environ.get("TURNSTILE_SOAK_RUNS", "2000"))
WARM = RUNS // 5
CLIENTS = 24
KIB = 200
"""Each run's values: about this many KiB."""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def _cache_gauges(base: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base) as http:
        text = (await http.get("/metrics")).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("turnstile_cache_")
    }


@pytest.mark.timeout(600)
async def test_rss_flat_over_a_soak(database_url: str) -> None:
    pids: list[int] = []
    env = {"TURNSTILE_WORKERS": "16", "TURNSTILE_POOL_SIZE": "40"}
    with running_server(database_url, config=GRAPHS, env=env, pids=pids) as base:
        pid = pids[0]
        client = get_client(url=base, timeout=120)
        started = time.monotonic()
        next_run = 0
        done = 0
        warm: dict[str, float] = {}
        rss_start = rss_mib(pid)

        async def one_client() -> None:
            nonlocal next_run, done
            while next_run < RUNS:
                i = next_run
                next_run += 1
                out = await client.runs.wait(
                    None, "big", input={"label": f"r{i}", "kb": KIB}, on_completion="delete"
                )
                assert isinstance(out, dict)
                assert len(out["items"]) == KIB
                done += 1
                if done == WARM:
                    warm.update(rss=rss_mib(pid), at=time.monotonic() - started)

        try:
            await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        finally:
            await client.http.client.aclose()
        elapsed = time.monotonic() - started
        rss_end = rss_mib(pid)
        gauges = await _cache_gauges(base)
    rate = (RUNS - WARM) / (elapsed - warm["at"])
    print(
        f"\nsoak: {RUNS} runs of ~{KIB} KiB values, {CLIENTS} clients, {elapsed:.0f}s "
        f"({RUNS / elapsed:.0f} runs/s; {rate:.0f} runs/s after warm-up); server RSS "
        f"{rss_start:.0f} MiB at start, {warm['rss']:.0f} MiB after {WARM} runs, "
        f"{rss_end:.0f} MiB after {RUNS} ({(rss_end / warm['rss'] - 1) * 100:+.0f}%); "
        f"caches {gauges}"
    )
    assert rss_end <= warm["rss"] * 1.2
