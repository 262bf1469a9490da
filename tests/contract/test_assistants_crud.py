"""Assistants through the official SDK: create, update (versions), delete, introspection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


def _status(exc: pytest.ExceptionInfo[httpx.HTTPStatusError]) -> int:
    return exc.value.response.status_code


async def test_create_get_and_if_exists(client: LangGraphClient) -> None:
    aid = str(uuid.uuid4())
    created = await client.assistants.create(
        "steps",
        assistant_id=aid,
        config={"configurable": {"x": 1}},
        metadata={"team": "a"},
        name="Stepper",
        description="two steps",
    )
    assert created["assistant_id"] == aid
    assert created["version"] == 1
    assert created["name"] == "Stepper"
    assert created["config"] == {"configurable": {"x": 1}}
    assert await client.assistants.get(aid) == created
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.create("steps", assistant_id=aid)
    assert _status(exc) == 409
    again = await client.assistants.create("steps", assistant_id=aid, if_exists="do_nothing")
    assert again == created
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.create("no-such-graph")
    assert _status(exc) == 404
    assert "Expected one of" in exc.value.response.json()["detail"]
    default = await client.assistants.create("steps")
    assert default["name"] == "Untitled"
    uuid.UUID(default["assistant_id"])


async def test_configurable_and_context_kept_in_step(client: LangGraphClient) -> None:
    """As the reference: giving one of ``config.configurable`` and ``context`` sets the
    other."""
    a = await client.assistants.create("steps", config={"configurable": {"x": 1}, "tags": ["t"]})
    assert (a["config"], a["context"]) == ({"configurable": {"x": 1}, "tags": ["t"]}, {"x": 1})
    b = await client.assistants.create("steps", config={"tags": ["t"]}, context={"y": 2})
    assert (b["config"], b["context"]) == ({"configurable": {"y": 2}, "tags": ["t"]}, {"y": 2})
    c = await client.assistants.update(b["assistant_id"], config={"configurable": {"z": 3}})
    assert (c["config"], c["context"]) == ({"configurable": {"z": 3}}, {"z": 3})
    d = await client.assistants.update(b["assistant_id"], context={"w": 4})
    assert (d["config"], d["context"]) == ({"configurable": {"w": 4}}, {"w": 4})
    e = await client.assistants.update(b["assistant_id"], config={"recursion_limit": 7})
    assert (e["config"], e["context"]) == ({"recursion_limit": 7}, {"w": 4})
    plain = await client.assistants.create("steps")
    assert (plain["config"], plain["context"]) == ({}, {})


async def test_update_makes_versions_and_set_latest(client: LangGraphClient) -> None:
    a = await client.assistants.create("steps", metadata={"k": 1}, name="v1")
    aid = a["assistant_id"]
    b = await client.assistants.update(aid, name="v2", metadata={"j": 2})
    assert b["version"] == 2
    assert b["name"] == "v2"
    assert b["metadata"] == {"k": 1, "j": 2}
    c = await client.assistants.update(aid, config={"recursion_limit": 7})
    assert c["version"] == 3
    assert c["config"] == {"recursion_limit": 7}
    assert c["name"] == "v2"
    versions = await client.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert [v["name"] for v in versions] == ["v2", "v2", "v1"]
    only = await client.assistants.get_versions(aid, metadata={"j": 2})
    assert [v["version"] for v in only] == [3, 2]
    back = await client.assistants.set_latest(aid, 1)
    assert back["version"] == 1
    assert back["name"] == "v1"
    assert (await client.assistants.get(aid))["name"] == "v1"
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.set_latest(aid, 9)
    assert _status(exc) == 404
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.update(str(uuid.uuid4()), name="x")
    assert _status(exc) == 404
    # The run uses the assistant's current version.
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], aid, input={"label": "q"})
    assert out["log"] == ["q", "done:q"]


async def test_delete_cancels_runs_and_optionally_threads(client: LangGraphClient) -> None:
    a = await client.assistants.create("steps")
    aid = a["assistant_id"]
    thread = await client.threads.create()
    tid = thread["thread_id"]
    run = await client.runs.create(tid, aid, input={"label": "d", "sleep": 30})
    await client.crons.create(aid, schedule="0 0 * * *")
    await client.assistants.delete(aid, delete_threads=True)
    assert await client.crons.search(assistant_id=aid) == []
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.get(aid)
    assert _status(exc) == 404
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.threads.get(tid)
    assert _status(exc) == 404
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.runs.get(tid, run["run_id"])
    assert _status(exc) == 404
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.assistants.delete(aid)
    assert _status(exc) == 404
    # Without delete_threads the thread stays and the run ends interrupted.
    b = await client.assistants.create("steps")
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], b["assistant_id"], input={"sleep": 30})
    await client.assistants.delete(b["assistant_id"])
    for _ in range(200):
        status = (await client.runs.get(thread["thread_id"], run["run_id"]))["status"]
        if status == "interrupted":
            break
        await asyncio.sleep(0.02)
    assert status == "interrupted"


async def test_graph_schemas_and_subgraphs(client: LangGraphClient, server_url: str) -> None:
    nested = await client.assistants.create("nested")
    aid = nested["assistant_id"]
    drawn = await client.assistants.get_graph(aid)
    ids = {n["id"] for n in drawn["nodes"]}
    assert {"__start__", "inner", "ask"} <= ids
    assert all(
        "id" not in (n.get("data") or {}) for n in drawn["nodes"] if isinstance(n.get("data"), dict)
    )
    assert {(e["source"], e["target"]) for e in drawn["edges"]} >= {("inner", "ask")}
    xray = await client.assistants.get_graph(aid, xray=True)
    assert any(n["id"].startswith("inner:") for n in xray["nodes"])
    schemas = await client.assistants.get_schemas(aid)
    assert schemas["graph_id"] == "nested"
    assert "log" in schemas["input_schema"]["properties"]
    assert "log" in schemas["state_schema"]["properties"]
    subgraphs = await client.assistants.get_subgraphs(aid)
    assert list(subgraphs) == ["inner"]
    assert "log" in subgraphs["inner"]["input_schema"]["properties"]
    assert await client.assistants.get_subgraphs(aid, namespace="inner") == subgraphs
    assert await client.assistants.get_subgraphs(aid, namespace="nope") == {}
    async with httpx.AsyncClient(base_url=server_url) as http:
        bad = await http.get(f"/assistants/{aid}/graph", params={"xray": "-1"})
        missing = await http.get(f"/assistants/{uuid.uuid4()}/schemas")
    assert bad.status_code == 422
    assert missing.status_code == 404
