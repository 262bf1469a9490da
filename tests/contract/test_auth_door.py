"""Every route goes through the access door (DESIGN I9), or is declared open.

The routes are read from the application's own route table, so a route added without a
call to ``app.auth.door.authorize`` makes this test fail: a caller whom the auth module
refuses everything (``nobody``) must get 403 from every route that touches a resource,
and a caller without a token 401, except on the routes marked ``public``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.server import ROOT, running_server

CONFIG = str(ROOT / "tests" / "graphs" / "door" / "langgraph.json")
PUBLIC = {
    ("GET", "/"),
    ("GET", "/ok"),
    ("GET", "/info"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    # the console's and /docs' page files (their data comes from the API, behind auth)
    ("GET", "/console"),
    ("GET", "/console/console.js"),
    ("GET", "/console/console.css"),
    ("GET", "/docs/assets/swagger-ui-bundle.js"),
    ("GET", "/docs/assets/swagger-ui.css"),
}
# No resource behind them: MCP is stateless, so GET (a stream) is 405 and DELETE (a session) 404.
AUTHENTICATED_ONLY = {("GET", "/metrics"), ("GET", "/mcp"), ("DELETE", "/mcp")}
RUN = {"assistant_id": "agent", "input": {"messages": []}}
# Bodies that pass validation, so what answers is the door and not the body check.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/threads/{thread_id}/runs"): RUN,
    ("POST", "/threads/{thread_id}/runs/wait"): RUN,
    ("POST", "/threads/{thread_id}/runs/stream"): RUN,
    ("POST", "/runs"): RUN,
    ("POST", "/runs/wait"): RUN,
    ("POST", "/runs/stream"): RUN,
    ("POST", "/runs/batch"): [RUN],
    ("POST", "/runs/cancel"): {"status": "all"},
    ("POST", "/assistants"): {"graph_id": "agent"},
    ("POST", "/assistants/{assistant_id}/latest"): {"version": 1},
    ("POST", "/threads/prune"): {"thread_ids": [str(uuid.uuid4())]},
    ("POST", "/threads/{thread_id}/state/checkpoint"): {"checkpoint": {}},
    ("POST", "/runs/crons"): {"assistant_id": "agent", "schedule": "* * * * *"},
    ("POST", "/threads/{thread_id}/runs/crons"): {"assistant_id": "agent", "schedule": "* * * * *"},
    ("PUT", "/store/items"): {"namespace": ["n"], "key": "k", "value": {}},
    ("DELETE", "/store/items"): {"namespace": ["n"], "key": "k"},
    ("POST", "/mcp"): {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
    ("POST", "/a2a/{assistant_id}"): {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tasks/get",
        "params": {"id": str(uuid.uuid4())},
    },
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/store/items"): {"namespace": "n", "key": "k"},
    ("GET", "/.well-known/agent-card.json"): {"assistant_id": str(uuid.uuid4())},
}


def served_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route handler the app serves, OPTIONS aside."""
    app = create_app(
        Settings(database_url="postgresql://unused@127.0.0.1/unused", config_path=CONFIG)
    )
    found = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                if method != "OPTIONS":
                    found.add((method, path))
    return sorted(found)


ROUTES = served_routes()


@pytest.fixture(scope="module")
def url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=CONFIG) as base:
        yield base


def call(base: str, method: str, path: str, token: str | None) -> httpx.Response:
    concrete = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = BODIES.get((method, path), {} if method in ("POST", "PUT", "PATCH", "DELETE") else None)
    return httpx.request(
        method,
        base + concrete,
        json=body,
        params=QUERIES.get((method, path)),
        headers=headers,
        timeout=30,
    )


def test_the_route_table_is_what_the_test_expects() -> None:
    # Read from the app, so a new route is in the parametrized tests below at once.
    assert len(ROUTES) > 50
    assert set(ROUTES) >= PUBLIC | AUTHENTICATED_ONLY


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r not in PUBLIC])
def test_without_a_token_every_non_public_route_answers_401(
    url: str, method: str, path: str
) -> None:
    response = call(url, method, path, None)
    assert response.status_code == 401, (method, path, response.text)
    assert response.json() == {"detail": "Who are you?"}


@pytest.mark.parametrize(
    ("method", "path"), [r for r in ROUTES if r not in PUBLIC | AUTHENTICATED_ONLY]
)
def test_every_resource_route_asks_the_door(url: str, method: str, path: str) -> None:
    refused = call(url, method, path, "nobody")
    assert refused.status_code == 403, (
        f"{method} {path} answered {refused.status_code} to a caller the auth handlers "
        f"refuse everything: it does not pass through app.auth.door.authorize"
    )
    assert refused.json() == {"detail": "Forbidden"}
    allowed = call(url, method, path, "somebody")
    assert allowed.status_code != 403, (method, path, allowed.text)


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_need_no_token(url: str, method: str, path: str) -> None:
    assert call(url, method, path, None).status_code == 200


def test_metrics_need_a_user_but_no_resource(url: str) -> None:
    assert call(url, "GET", "/metrics", "nobody").status_code == 200


def test_request_ids(url: str) -> None:
    mine = httpx.get(url + "/ok", headers={"x-request-id": "req-42"})
    assert mine.headers["x-request-id"] == "req-42"
    fresh = httpx.get(url + "/threads/" + str(uuid.uuid4()))
    assert uuid.UUID(fresh.headers["x-request-id"])
    assert fresh.status_code == 401


def test_authenticate_gets_the_request_pieces_it_names(url: str) -> None:
    """The handler asks for every piece by name; what it saw reaches the run's user."""
    headers = {"Authorization": "Bearer somebody", "x-probe": "probe-1"}
    thread = httpx.post(f"{url}/threads", json={}, headers=headers).json()
    path = f"/threads/{thread['thread_id']}/runs"
    run = httpx.post(url + path, params={"q": "1"}, json=RUN, headers=headers).json()
    got = httpx.get(f"{url}{path}/{run['run_id']}", headers=headers).json()
    configurable = got["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user_id"] == "somebody"
    assert configurable["langgraph_auth_permissions"] == ["p"]
    assert configurable["langgraph_auth_user"]["seen"] == {
        "request_path": path,
        "header": "probe-1",
        "path": path,
        "method": "POST",
        "query_params": {"q": "1"},
        "path_params": {"thread_id": thread["thread_id"]},
    }
