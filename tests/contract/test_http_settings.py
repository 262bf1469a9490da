"""The ``http`` section of langgraph.json and the hardening settings, on a real server:
CORS (origins, exposed headers), configurable headers, the body size limit, request ids."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from langgraph_sdk import get_client

from tests.server import ROOT, running_server

CONFIG = str(ROOT / "tests" / "graphs" / "http" / "langgraph.json")


@pytest.fixture(scope="module")
def url(module_database_url: str) -> Iterator[str]:
    env = {"TURNSTILE_MAX_BODY_BYTES": "4096"}
    with running_server(module_database_url, config=CONFIG, env=env) as base:
        yield base


def test_cors_allows_the_configured_origin_only(url: str) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    ok = httpx.options(f"{url}/threads", headers={"Origin": "https://app.example", **ask})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.options(f"{url}/threads", headers={"Origin": "https://evil.example", **ask})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_cors_exposes_pagination_and_location_headers(url: str) -> None:
    response = httpx.post(
        f"{url}/threads/search", json={}, headers={"Origin": "https://app.example"}
    )
    assert response.status_code == 200
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-pagination-total", "x-pagination-next", "content-location", "x-custom"} <= exposed


async def test_configurable_headers_reach_the_run(url: str) -> None:
    client = get_client(
        url=url,
        headers={
            "x-tenant-id": "t1",
            "x-tenant-secret": "s3cret",
            "x-other": "o",
        },
    )
    try:
        thread = await client.threads.create()
        run = await client.runs.create(
            thread["thread_id"],
            "agent",
            input={"messages": [{"role": "user", "content": "hi"}]},
            config={"configurable": {"x-tenant-id": "from-body"}},
        )
        await client.runs.join(thread["thread_id"], run["run_id"])
        other = await client.runs.create(
            thread["thread_id"], "agent", input={"messages": [{"role": "user", "content": "x"}]}
        )
        await client.runs.join(thread["thread_id"], other["run_id"])
        first = (await client.runs.get(thread["thread_id"], run["run_id"]))["kwargs"]
        second = (await client.runs.get(thread["thread_id"], other["run_id"]))["kwargs"]
    finally:
        await client.http.client.aclose()
    # The body's own value wins; included headers are added, excluded and others are not.
    assert first["config"]["configurable"]["x-tenant-id"] == "from-body"
    configurable = second["config"]["configurable"]
    assert configurable["x-tenant-id"] == "t1"
    assert configurable["user-agent"].startswith("langgraph-sdk-py")
    for absent in ("x-tenant-secret", "x-other"):
        assert absent not in configurable


def test_secrets_in_headers_stay_out_of_runs(url: str) -> None:
    headers = {"x-api-key": "k", "authorization": "Bearer t", "x-tenant-id": "t2"}
    body = {"assistant_id": "agent", "input": {"messages": []}}
    run = httpx.post(f"{url}/runs/wait", json={**body, "on_completion": "keep"}, headers=headers)
    assert run.status_code == 200
    location = run.headers["content-location"]
    thread = httpx.post(f"{url}/threads/search", json={"limit": 100}).json()
    kwargs = next(
        r["kwargs"]
        for t in thread
        for r in httpx.get(f"{url}/threads/{t['thread_id']}/runs").json()
        if location.endswith(r["run_id"])
    )
    configurable = kwargs["config"]["configurable"]
    assert configurable["x-tenant-id"] == "t2"
    assert "x-api-key" not in configurable
    assert "authorization" not in configurable


def test_bodies_over_the_limit_answer_413_and_write_nothing(url: str) -> None:
    before = httpx.post(f"{url}/threads/count", json={}).json()
    big = {"metadata": {"blob": "x" * 5000}}
    response = httpx.post(f"{url}/threads", json=big)
    assert response.status_code == 413
    assert isinstance(response.json()["detail"], str)
    assert httpx.post(f"{url}/threads/count", json={}).json() == before
    assert httpx.post(f"{url}/threads", json={"metadata": {"blob": "x" * 100}}).status_code == 200


def test_every_response_has_a_request_id(url: str) -> None:
    a = httpx.get(f"{url}/threads/00000000-0000-0000-0000-000000000000")
    b = httpx.get(f"{url}/threads/00000000-0000-0000-0000-000000000000")
    assert a.status_code == b.status_code == 404
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    weird = httpx.get(f"{url}/ok", headers={"x-request-id": "a b\tc" * 100})
    assert weird.headers["x-request-id"] != "a b\tc" * 100
