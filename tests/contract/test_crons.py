"""Crons through the official SDK, and their scheduler across two processes (API.md §2.4)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


async def test_crud_and_validation(client: LangGraphClient, server_url: str) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    cron = await client.crons.create_for_thread(
        tid,
        "steps",
        schedule="*/5 * * * *",
        input={"label": "c"},
        metadata={"team": "x"},
        timezone="Europe/Paris",
    )
    cid = cron["cron_id"]
    assert cron["thread_id"] == tid
    assert cron["schedule"] == "*/5 * * * *"
    assert cron["enabled"] is True
    assert cron["timezone"] == "Europe/Paris"
    assert cron["payload"]["input"] == {"label": "c"}
    # The payload as the reference shows it: the create body, the assistant by its id.
    assert cron["payload"]["assistant_id"] == cron["assistant_id"] != "steps"
    assert cron["payload"]["config"]["configurable"]["cron_id"] == cid
    assert cron["payload"]["schedule"] == "*/5 * * * *"
    assert cron["payload"]["timezone"] == "Europe/Paris"
    assert cron["payload"]["metadata"] == {"team": "x"}
    nxt = datetime.datetime.fromisoformat(cron["next_run_date"])
    assert nxt > datetime.datetime.now(datetime.UTC)
    assert nxt.minute % 5 == 0
    async with httpx.AsyncClient(base_url=server_url) as http:
        got = (await http.get(f"/runs/crons/{cid}")).json()
        assert got == cron
        bad_schedule = await http.post(
            "/runs/crons", json={"assistant_id": "steps", "schedule": "every day"}
        )
        bad_zone = await http.post(
            "/runs/crons",
            json={"assistant_id": "steps", "schedule": "* * * * *", "timezone": "Mars/Base"},
        )
        no_thread = await http.post(
            f"/threads/{uuid.uuid4()}/runs/crons",
            json={"assistant_id": "steps", "schedule": "* * * * *"},
        )
        empty = await http.patch(f"/runs/crons/{cid}", json={})
    assert bad_schedule.status_code == 422
    assert bad_zone.status_code == 422
    assert no_thread.status_code == 404
    assert empty.status_code == 400
    found = await client.crons.search(thread_id=tid)
    assert [c["cron_id"] for c in found] == [cid]
    assert await client.crons.count(thread_id=tid) == 1
    assert await client.crons.count(metadata={"team": "nope"}) == 0
    picked = await client.crons.search(thread_id=tid, select=["cron_id", "schedule"])
    assert picked == [{"cron_id": cid, "schedule": "*/5 * * * *"}]
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    updated = await client.crons.update(cid, enabled=False, end_time=end, schedule="0 * * * *")
    assert updated["enabled"] is False
    assert updated["end_time"] is not None
    assert datetime.datetime.fromisoformat(updated["next_run_date"]).minute == 0
    cleared = await client.crons.update(cid, end_time=None)
    assert cleared["end_time"] is None
    await client.crons.delete(cid)
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.crons.delete(cid)
    assert exc.value.response.status_code == 404


async def _runs_of(url: str, cron_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT run_id, thread_id, status, metadata->>'cron_tick' AS tick FROM runs "
            "WHERE metadata->>'cron_id' = $1 ORDER BY created_at",
            cron_id,
        )
    finally:
        await conn.close()


async def test_fires_each_tick_once_across_two_processes(
    client: LangGraphClient, module_database_url: str
) -> None:
    with running_server(module_database_url, config=GRAPHS):
        cron = await client.crons.create(
            "steps", schedule="* * * * * *", input={"label": "t"}, on_run_completed="keep"
        )
        try:
            for _ in range(100):
                runs = await _runs_of(module_database_url, cron["cron_id"])
                if sum(r["status"] == "success" for r in runs) >= 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            await client.crons.delete(cron["cron_id"])
    runs = await _runs_of(module_database_url, cron["cron_id"])
    ticks = [r["tick"] for r in runs]
    assert len(ticks) >= 3
    assert len(set(ticks)) == len(ticks)  # no tick fired twice
    assert len({r["thread_id"] for r in runs}) == len(runs)  # a new thread per tick
    done = [r for r in runs if r["status"] == "success"]
    state = await client.threads.get_state(str(done[0]["thread_id"]))
    assert state["values"]["log"] == ["t", "done:t"]
    await asyncio.sleep(1.5)
    assert len(await _runs_of(module_database_url, cron["cron_id"])) == len(runs)  # deleted


async def test_thread_cron_runs_on_its_thread_and_stops_at_end_time(
    client: LangGraphClient, module_database_url: str
) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2.5)
    cron = await client.crons.create_for_thread(
        tid, "steps", schedule="* * * * * *", input={"label": "x"}, end_time=end
    )
    # The scheduler clears next_run_date once the next tick would be past end_time.
    for _ in range(100):
        after = await client.crons.search(thread_id=tid)
        if after[0]["next_run_date"] is None:
            break
        await asyncio.sleep(0.1)
    assert after[0]["next_run_date"] is None
    runs = await _runs_of(module_database_url, cron["cron_id"])
    assert 1 <= len(runs) <= 3
    assert {str(r["thread_id"]) for r in runs} == {tid}
    assert all(datetime.datetime.fromisoformat(r["tick"]) <= end for r in runs)
