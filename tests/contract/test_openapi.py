"""/openapi.json lists every operation served, with bodies; /docs renders it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from app.api import openapi
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.main import create_app
from app.settings import Settings

# The reference server's operations this server serves (API.md appendix, minus generative UI).
EXPECTED = {
    ("post", "/assistants"),
    ("post", "/assistants/search"),
    ("post", "/assistants/count"),
    ("get", "/assistants/{assistant_id}"),
    ("patch", "/assistants/{assistant_id}"),
    ("delete", "/assistants/{assistant_id}"),
    ("get", "/assistants/{assistant_id}/graph"),
    ("get", "/assistants/{assistant_id}/schemas"),
    ("get", "/assistants/{assistant_id}/subgraphs"),
    ("get", "/assistants/{assistant_id}/subgraphs/{namespace}"),
    ("post", "/assistants/{assistant_id}/versions"),
    ("post", "/assistants/{assistant_id}/latest"),
    ("post", "/threads"),
    ("post", "/threads/search"),
    ("post", "/threads/count"),
    ("post", "/threads/prune"),
    ("get", "/threads/{thread_id}"),
    ("patch", "/threads/{thread_id}"),
    ("delete", "/threads/{thread_id}"),
    ("post", "/threads/{thread_id}/copy"),
    ("get", "/threads/{thread_id}/state"),
    ("post", "/threads/{thread_id}/state"),
    ("get", "/threads/{thread_id}/state/{checkpoint_id}"),
    ("post", "/threads/{thread_id}/state/checkpoint"),
    ("post", "/threads/{thread_id}/history"),
    ("get", "/threads/{thread_id}/history"),
    ("get", "/threads/{thread_id}/stream"),
    ("get", "/threads/{thread_id}/storage"),
    ("post", "/threads/{thread_id}/runs"),
    ("get", "/threads/{thread_id}/runs"),
    ("post", "/threads/{thread_id}/runs/stream"),
    ("post", "/threads/{thread_id}/runs/wait"),
    ("get", "/threads/{thread_id}/runs/{run_id}"),
    ("delete", "/threads/{thread_id}/runs/{run_id}"),
    ("get", "/threads/{thread_id}/runs/{run_id}/join"),
    ("get", "/threads/{thread_id}/runs/{run_id}/stream"),
    ("post", "/threads/{thread_id}/runs/{run_id}/cancel"),
    ("post", "/threads/{thread_id}/runs/crons"),
    ("post", "/runs"),
    ("post", "/runs/stream"),
    ("post", "/runs/wait"),
    ("post", "/runs/batch"),
    ("post", "/runs/cancel"),
    ("post", "/runs/crons"),
    ("post", "/runs/crons/search"),
    ("post", "/runs/crons/count"),
    ("get", "/runs/crons/{cron_id}"),
    ("patch", "/runs/crons/{cron_id}"),
    ("delete", "/runs/crons/{cron_id}"),
    ("put", "/store/items"),
    ("get", "/store/items"),
    ("delete", "/store/items"),
    ("post", "/store/items/search"),
    ("post", "/store/namespaces"),
    ("get", "/ok"),
    ("get", "/info"),
    ("post", "/mcp/"),
    ("get", "/mcp/"),
    ("delete", "/mcp/"),
    ("post", "/a2a/{assistant_id}"),
    ("post", "/threads/{thread_id}/commands"),
    ("post", "/threads/{thread_id}/stream/events"),
}


def test_every_route_is_documented_with_its_body() -> None:
    """A route added without its request body in openapi.REQUESTS fails here."""
    app = create_app(
        Settings(database_url="postgresql://unused@127.0.0.1/unused"),
        GraphRegistry.load(load_config(None)),
    )
    doc = openapi.build(app)
    served = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served >= EXPECTED
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            name = op["operationId"]
            if method in ("post", "put", "patch") and name not in openapi.NO_BODY:
                assert "requestBody" in op, f"{method} {path} ({name}) has no documented body"
            refs = [
                c["schema"].get("$ref")
                for r in op["responses"].values()
                for c in r.get("content", {}).values()
            ]
            for ref in filter(None, refs):
                assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]


def _reference_operations() -> set[tuple[str, str]]:
    table = (Path(__file__).parent / "reference_operations.md").read_text()
    found = re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", table, re.M)
    return {(method.lower(), path) for method, path in found}


async def test_openapi_covers_the_reference_operations(server_url: str) -> None:
    reference = _reference_operations()
    assert len(reference) == 64
    async with httpx.AsyncClient(base_url=server_url) as http:
        spec = (await http.get("/openapi.json")).json()
    served = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    missing = sorted(reference - served)
    assert not missing, f"operations of the reference server not served: {missing}"
    print(f"\nserved {len(reference & served)}/{len(reference)} of the reference's operations")


async def test_metrics(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        text = await http.get("/metrics")
        as_json = await http.get("/metrics", params={"format": "json"})
    assert text.status_code == 200
    assert "turnstile_runs_running " in text.text
    assert set(as_json.json()["queue"]) >= {"runs_pending", "runs_running", "threads_busy"}


async def test_served_and_rendered(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        spec = await http.get("/openapi.json")
        docs = await http.get("/docs")
    assert spec.status_code == 200
    body = spec.json()
    assert body["openapi"].startswith("3.")
    run_create = body["components"]["schemas"]["RunCreate"]
    assert "multitask_strategy" in run_create["properties"]
    assert "/threads/{thread_id}/runs/stream" in body["paths"]
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in docs.text
