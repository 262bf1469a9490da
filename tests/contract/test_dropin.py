"""A team's existing project, as it ran on the official server (issue 16): the kitchen-sink
project (tests/projects/kitchen_sink: custom FastAPI routes, middleware and lifespan,
custom auth with an OpenAPI scheme and a cache, thread and store TTL defaults, a webhook
policy with headers, build-time keys) served by a real ``turnstile serve`` and driven with
the SDK; the official environment variables; and the keys and variables that stop
``serve`` at start, with the message naming them."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.db.urls import plain_url
from tests.server import ROOT, command, running_server

PROJECT = Path(__file__).resolve().parents[1] / "projects" / "kitchen_sink"
CONFIG = str(PROJECT / "langgraph.json")
KEY = {"x-api-key": "key-alice"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("kitchen-sink")
    return {"auth": base / "auth.log", "hook": base / "hook.log"}


@pytest.fixture(scope="module")
def server_url(module_database_url: str, logs: dict[str, Path]) -> Iterator[str]:
    env = {
        "KS_AUTH_LOG": str(logs["auth"]),
        "KS_HOOK_LOG": str(logs["hook"]),
        "KS_HOOK_KEY": "key-webhook",
    }
    with running_server(module_database_url, config=CONFIG, env=env) as url:
        yield url


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server_url, api_key=KEY["x-api-key"])
    try:
        yield client
    finally:
        await client.http.client.aclose()


async def _row(url: str, sql: str, *args: Any) -> asyncpg.Record | None:
    conn = await asyncpg.connect(plain_url(url))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


async def test_custom_routes_beside_the_api_with_auth_middleware_and_lifespan(
    server_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        hello = await http.get("/custom/hello", headers=KEY)
        refused = await http.get("/custom/hello")
        lifespan = await http.get("/custom/lifespan", headers=KEY)
        api = await http.post("/threads/search", json={}, headers=KEY)
        api_refused = await http.post("/threads/search", json={})
        ok = await http.get("/ok")
    assert (hello.status_code, hello.json()) == (200, {"hello": "alice"})
    assert refused.status_code == 401  # enable_custom_route_auth
    assert refused.json() == {"detail": "Missing or bad x-api-key"}
    assert lifespan.json() == {"started": True}
    # Its middleware wraps the API's requests too; our auth still guards them.
    assert api.status_code == 200
    assert api.headers["x-kitchen-sink"] == "1"
    assert api_refused.status_code == 401
    assert ok.status_code == 200


async def test_openapi_has_the_security_schemes_and_the_custom_routes(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        doc = (await http.get("/openapi.json")).json()
    assert doc["components"]["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    assert doc["security"] == [{"apiKey": []}]
    assert "get" in doc["paths"]["/custom/hello"]
    assert "post" in doc["paths"]["/threads"]


async def test_auth_cache_reuses_a_successful_authentication(
    server_url: str, logs: dict[str, Path]
) -> None:
    headers = {"x-api-key": "key-cached"}
    before = logs["auth"].read_text().splitlines() if logs["auth"].exists() else []
    async with httpx.AsyncClient(base_url=server_url) as http:
        for _ in range(3):
            r = await http.post("/assistants/search", json={}, headers=headers)
            assert r.status_code == 200
        for _ in range(2):
            assert (await http.post("/threads/search", json={})).status_code == 401
    calls = logs["auth"].read_text().splitlines()[len(before) :]
    assert calls == ["key-cached", "", ""]  # failures are not cached


async def test_thread_and_store_ttl_defaults(
    client: LangGraphClient, module_database_url: str
) -> None:
    thread = await client.threads.create()
    row = await _row(
        module_database_url,
        "SELECT ttl_minutes, ttl_strategy, expires_at > now() AS later FROM threads "
        "WHERE thread_id = $1",
        thread["thread_id"],
    )
    assert row is not None
    assert tuple(row) == (60.0, "delete", True)
    explicit = await client.threads.create(ttl=5)
    row = await _row(
        module_database_url,
        "SELECT ttl_minutes FROM threads WHERE thread_id = $1",
        explicit["thread_id"],
    )
    assert row is not None
    assert row["ttl_minutes"] == 5.0
    # A run on a missing thread creates it with the default too.
    missing = "5b2a47a9-8a64-4f3c-9d4b-3a2a6f0c1d10"
    await client.runs.wait(missing, "echo", input={}, if_not_exists="create")
    row = await _row(
        module_database_url, "SELECT ttl_minutes FROM threads WHERE thread_id = $1", missing
    )
    assert row is not None
    assert row["ttl_minutes"] == 60.0

    await client.store.put_item(["ks"], "k", {"v": 1})
    item = await _row(
        module_database_url,
        "SELECT ttl_minutes, expires_at FROM store_items WHERE key = 'k' AND prefix = 'ks'",
    )
    assert item is not None
    assert item["ttl_minutes"] == 30.0
    # refresh_on_read false: a read leaves the expiry alone unless it asks.
    await client.store.get_item(["ks"], "k")
    again = await _row(
        module_database_url, "SELECT expires_at FROM store_items WHERE key = 'k' AND prefix = 'ks'"
    )
    assert again is not None
    assert again["expires_at"] == item["expires_at"]
    await client.store.get_item(["ks"], "k", refresh_ttl=True)
    refreshed = await _row(
        module_database_url, "SELECT expires_at FROM store_items WHERE key = 'k' AND prefix = 'ks'"
    )
    assert refreshed is not None
    assert refreshed["expires_at"] > item["expires_at"]


async def test_context_is_mirrored_into_configurable(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    out = await client.runs.wait(
        thread["thread_id"],
        "echo",
        input={},
        context={"model": "small"},
        headers={"x-tenant": "acme"},
    )
    assert out["seen"] == {
        "model": "small",
        "tenant": "acme",
        "user": "alice",
        "greeting": "hello from langgraph.json",
    }
    # The config's own value wins over the context's.
    out = await client.runs.wait(
        thread["thread_id"],
        "echo",
        input={},
        config={"configurable": {"model": "large"}},
    )
    assert out["seen"]["model"] == "large"


async def test_relative_webhook_reaches_the_custom_route_with_the_configured_headers(
    client: LangGraphClient, logs: dict[str, Path]
) -> None:
    thread = await client.threads.create()
    run = await client.runs.create(thread["thread_id"], "echo", input={}, webhook="/custom/hook")
    for _ in range(200):
        if logs["hook"].exists() and logs["hook"].read_text().strip():
            break
        await asyncio.sleep(0.05)
    (record,) = [json.loads(line) for line in logs["hook"].read_text().splitlines()]
    assert record["headers"]["x-hook"] == "kitchen-sink"
    assert record["headers"]["x-api-key"] == "key-webhook"  # filled from the environment
    assert record["body"]["run_id"] == run["run_id"]
    assert record["body"]["status"] == "success"


async def test_webhook_policy_refuses_other_domains(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as exc:
        await client.runs.create(
            thread["thread_id"], "echo", input={}, webhook="https://hooks.other.org/in"
        )
    assert exc.value.response.status_code == 422
    assert exc.value.response.json() == {"detail": "Webhook domain not allowed"}


async def test_agent_chat_ui_resume_shape_input_and_command(
    client: LangGraphClient, server_url: str
) -> None:
    """agent-chat-ui's inbox resumes an interrupt with ``"input": {}`` and a ``command``: the
    command wins, as on the reference server."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    await client.runs.wait(tid, "ask", input={})
    state = await client.threads.get_state(tid)
    assert state["next"] == ["question"]
    async with httpx.AsyncClient(base_url=server_url, headers=KEY) as http:
        r = await http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "ask", "input": {}, "command": {"resume": {"ok": True}}},
        )
    assert r.status_code == 200, r.text
    assert r.json()["answer"] == {"ok": True}
    assert (await client.threads.get_state(tid))["next"] == []


async def test_schemas_and_graph_by_graph_id(client: LangGraphClient, server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=KEY) as http:
        schemas = (await http.get("/assistants/plain/schemas")).json()
        drawn = await http.get("/assistants/echo/graph")
    state = schemas["state_schema"]
    assert state["properties"]["count"]["type"] == "integer"
    assert state["properties"]["notes"]["items"] == {"type": "string"}
    assert schemas["config_schema"] == {}  # no configurable declared
    assert drawn.status_code == 200
    assert {n["id"] for n in drawn.json()["nodes"]} == {"__start__", "report", "__end__"}


async def test_a_factory_graph_is_rebuilt_with_the_assistants_config_for_state_updates(
    client: LangGraphClient,
) -> None:
    assistant = await client.assistants.create(
        "made", config={"configurable": {"node_name": "custom"}}
    )
    thread = await client.threads.create()
    tid = thread["thread_id"]
    out = await client.runs.wait(tid, assistant["assistant_id"], input={"count": 1})
    assert out == {"count": 2}
    await client.threads.update_state(tid, {"count": 10}, as_node="custom")
    state = await client.threads.get_state(tid)
    assert state["values"] == {"count": 10}  # written as "custom": only its graph has it
    assert state["metadata"]["thread_id"] == tid


async def test_interrupts_carry_their_response_schema(client: LangGraphClient) -> None:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    out = await client.runs.wait(tid, "schema_ask", input={})
    (waited,) = out["__interrupt__"]
    assert waited["response_schema"] == schema
    (task,) = (await client.threads.get_state(tid))["tasks"]
    assert task["interrupts"][0]["response_schema"] == schema
    assert (await client.threads.get(tid))["interrupts"][task["id"]][0]["response_schema"] == schema
    # An interrupt without one: null in the wait's answer, no such key in the state (as the
    # reference shows them).
    out = await client.runs.wait(tid, "ask", input={})
    assert out["__interrupt__"][0]["response_schema"] is None
    (task,) = (await client.threads.get_state(tid))["tasks"]
    assert "response_schema" not in task["interrupts"][0]


def _gauges(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("lg_api_")
    }


async def test_metrics_carry_the_official_names_and_move(
    client: LangGraphClient, server_url: str
) -> None:
    async with httpx.AsyncClient(base_url=server_url, headers=KEY) as http:
        idle = _gauges((await http.get("/metrics")).text)
        assert idle["lg_api_workers_max"] == 10
        assert idle["lg_api_pg_pool_max"] == 20
        thread = await client.threads.create()
        run = await client.runs.create(thread["thread_id"], "slow", input={"sleep": 2})
        for _ in range(200):
            busy = _gauges((await http.get("/metrics")).text)
            if busy["lg_api_workers_active"] == 1:
                break
            await asyncio.sleep(0.02)
        assert busy["lg_api_num_running_runs"] >= 1
        assert busy["lg_api_workers_available"] == 9
        await client.runs.join(thread["thread_id"], run["run_id"])
        done = (await http.get("/metrics", params={"format": "json"})).json()
    assert done["lg_api_workers_active"] == 0
    assert done["lg_api_num_running_runs"] == 0


def test_build_keys_are_named_in_the_start_log() -> None:
    log = (ROOT / ".pytest_cache" / "servers").glob("server-*.log")
    found = [p.read_text() for p in log if "image build settings" in p.read_text()]
    assert any("python_version, dockerfile_lines: image build settings" in t for t in found)


# --- the official environment variables -----------------------------------------------------

ENV_SERVER = {
    "LANGSERVE_GRAPHS": json.dumps({"slow": str(PROJECT / "graphs.py") + ":slow"}),
    "LANGGRAPH_HTTP": json.dumps({"mount_prefix": "/api", "disable_store": True}),
    "BG_JOB_TIMEOUT_SECS": "1",
    "ALLOW_PRIVATE_NETWORK": "true",
    "LOG_JSON": "true",
}


@pytest.fixture
def env_server(database_url: str) -> Iterator[str]:
    """A server configured the official way: graphs, http and limits from the environment,
    no langgraph.json, the database as DATABASE_URI (its own: no other server's workers)."""
    env = {**ENV_SERVER, "DATABASE_URI": database_url}
    with running_server(None, env=env, extra_args=("--no-migrate",)) as url:
        yield url


async def test_official_environment_variables(env_server: str) -> None:
    client = get_client(url=env_server + "/api")
    try:
        thread = await client.threads.create()
        run = await client.runs.create(thread["thread_id"], "slow", input={"sleep": 3})
        await client.runs.join(thread["thread_id"], run["run_id"])
        ended = await client.runs.get(thread["thread_id"], run["run_id"])
        assert ended["status"] == "timeout"  # BG_JOB_TIMEOUT_SECS=1
    finally:
        await client.http.client.aclose()
    async with httpx.AsyncClient(base_url=env_server) as http:
        assert (await http.get("/ok")).status_code == 200
        assert (await http.post("/threads/search", json={})).status_code == 404  # not at /
        assert (await http.post("/api/threads/search", json={})).status_code == 200
        store = await http.post("/api/store/items/search", json={})
        assert store.status_code == 404  # disable_store
        preflight = await http.options(
            "/api/threads",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-private-network": "true",
            },
        )
    assert preflight.headers["access-control-allow-private-network"] == "true"
    log = ROOT / ".pytest_cache" / "servers" / f"server-{env_server.rsplit(':', 1)[1]}.log"
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines
    assert all(json.loads(line)["level"] for line in lines)  # LOG_JSON


# --- what stops serve -----------------------------------------------------------------------

REFUSED = [
    (
        # A provider whose package is not installed (the reason is the provider's own).
        {"store": {"index": {"embed": "cohere:embed-english-v3.0", "dims": 1024}}},
        {},
        "store.index.embed 'cohere:embed-english-v3.0': Could not import langchain-cohere",
    ),
    ({"encryption": {"path": "./enc.py:enc"}}, {}, "encryption"),
    ({"grahps": {}}, {}, "grahps: not a key of the official langgraph.json schema"),
    ({"http": {"disable_everything": True}}, {}, "http.disable_everything: not a key"),
    ({"checkpointer": {"ttl": {"strategy": "archive"}}}, {}, "checkpointer.ttl.strategy must be"),
    ({"webhooks": {"headers": {"x": "${{ env.NOPE_UNSET }}"}}}, {}, "NOPE_UNSET is not set"),
    ({}, {"LANGGRAPH_AES_KEY": "k" * 32}, "LANGGRAPH_AES_KEY: at-rest encryption"),
    ({}, {"OTEL_ENABLED": "true", "OTEL_TRACES_EXPORTER": "zipkin"}, "exports 'otlp' or 'console'"),
    ({}, {"LANGGRAPH_AUTH_TYPE": "langsmith"}, "LANGGRAPH_AUTH_TYPE=langsmith"),
    (
        {},
        {
            "DATABASE_URL": "postgresql://a@127.0.0.1/x",
            "DATABASE_URI": "postgresql://b@127.0.0.1/y",
        },
        "DATABASE_URL and DATABASE_URI give different database URLs",
    ),
]


@pytest.mark.parametrize(("keys", "env", "message"), REFUSED)
def test_what_cannot_be_honoured_stops_serve(
    tmp_path: Path, keys: dict[str, Any], env: dict[str, str], message: str
) -> None:
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"agent": "app.graphs.demo:graph"}, **keys}))
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URI")}
    res = command("serve", "--config", str(config), "--port", "1", env={**clean, **env}, timeout=30)
    assert res.returncode == 2, res.output[-2000:]
    assert message in res.output, res.output[-2000:]
    assert "Traceback" not in res.output
