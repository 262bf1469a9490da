"""Bad input on every endpoint family (threads, runs, crons, assistants, store): malformed
JSON, wrong types, unknown enum values, non-UUID ids, bodies over 10 MiB, numbers out of
range, NUL characters and deeply nested JSON (issue 8).

Each one must answer a 4xx whose body is ``{"detail": <str>}`` (API.md §1), leave every
table's row count as it was, and leave the server answering ``/ok``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.urls import plain_url
from tests.contract.row_counts import COUNTS
from tests.server import running_server

# Stream events outlive the module (their sweep would change the row counts under a test).
SERVER_ENV = {"TURNSTILE_STREAM_TTL_SECONDS": "86400"}
MAX_BODY = 10 * 1024 * 1024
DEPTH = 10_000


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, env=SERVER_ENV) as url:
        yield url


@dataclass
class World:
    """Resources that exist, so that a request fails on its bad part and not on a 404."""

    thread: str
    run: str
    assistant: str
    cron: str
    checkpoint: str

    def path(self, template: str) -> str:
        return template.format(
            t=self.thread, r=self.run, a=self.assistant, c=self.cron, cp=self.checkpoint
        )


@pytest.fixture(scope="module")
def world(server_url: str) -> World:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        thread = http.post("/threads", json={"metadata": {"graph_id": "agent"}}).json()
        tid = thread["thread_id"]
        waited = http.post(
            f"/threads/{tid}/runs/wait",
            json={
                "assistant_id": "agent",
                "input": {"messages": [{"role": "user", "content": "hi"}]},
            },
        )
        assert waited.status_code == 200, waited.text
        run_id = waited.headers["content-location"].rsplit("/", 1)[1]
        state = http.get(f"/threads/{tid}/state").json()
        assistant = http.post("/assistants", json={"graph_id": "agent"}).json()
        cron = http.post(
            "/runs/crons", json={"assistant_id": "agent", "schedule": "0 0 1 1 *"}
        ).json()
        put = http.put("/store/items", json={"namespace": ["bad"], "key": "k", "value": {}})
        assert put.status_code == 204
    return World(tid, run_id, assistant["assistant_id"], cron["cron_id"], state["checkpoint_id"])


class Checker:
    """Sends one bad request and checks what it must do."""

    def __init__(self, http: httpx.AsyncClient, db: asyncpg.Connection, world: World) -> None:
        self.http = http
        self.db = db
        self.world = world

    async def counts(self) -> dict[str, int]:
        return dict(await self.db.fetchrow(COUNTS))

    async def rejects(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> str:
        """``status`` (or any 4xx) with ``{"detail": <str>}``, no row written, ``/ok`` after.
        Returns the detail."""
        before = await self.counts()
        if body is not None:
            content = httpx.Request("POST", "/", json=body).content
        response = await self.http.request(
            method,
            self.world.path(path),
            content=content,
            params=params,
            headers={"content-type": "application/json", **(headers or {})},
        )
        where = f"{method} {path} -> {response.status_code}: {response.text[:500]}"
        if status is None:
            assert 400 <= response.status_code < 500, where
        else:
            assert response.status_code == status, where
        error = response.json()
        assert isinstance(error, dict), where
        assert set(error) == {"detail"}, where
        assert isinstance(error["detail"], str), where
        if detail is not None:
            assert detail in error["detail"], where
        assert await self.counts() == before, f"{where}: rows left behind"
        ok = await self.http.get("/ok")
        assert ok.status_code == 200, where
        return str(error["detail"])


@pytest.fixture
async def check(server_url: str, module_database_url: str, world: World) -> AsyncIterator[Checker]:
    db = await asyncpg.connect(plain_url(module_database_url))
    try:
        async with httpx.AsyncClient(base_url=server_url, timeout=60) as http:
            yield Checker(http, db, world)
    finally:
        await db.close()


# Every operation that reads a JSON body, on resources that exist.
BODY_OPERATIONS = [
    ("POST", "/threads"),
    ("PATCH", "/threads/{t}"),
    ("POST", "/threads/search"),
    ("POST", "/threads/count"),
    ("POST", "/threads/prune"),
    ("POST", "/threads/{t}/state"),
    ("POST", "/threads/{t}/state/checkpoint"),
    ("POST", "/threads/{t}/history"),
    ("POST", "/threads/{t}/runs"),
    ("POST", "/threads/{t}/runs/stream"),
    ("POST", "/threads/{t}/runs/wait"),
    ("POST", "/runs"),
    ("POST", "/runs/stream"),
    ("POST", "/runs/wait"),
    ("POST", "/runs/batch"),
    ("POST", "/runs/cancel"),
    ("POST", "/threads/{t}/runs/crons"),
    ("POST", "/runs/crons"),
    ("PATCH", "/runs/crons/{c}"),
    ("POST", "/runs/crons/search"),
    ("POST", "/runs/crons/count"),
    ("POST", "/assistants"),
    ("PATCH", "/assistants/{a}"),
    ("POST", "/assistants/search"),
    ("POST", "/assistants/count"),
    ("POST", "/assistants/{a}/versions"),
    ("POST", "/assistants/{a}/latest"),
    ("PUT", "/store/items"),
    ("DELETE", "/store/items"),
    ("POST", "/store/items/search"),
    ("POST", "/store/namespaces"),
]

MALFORMED = [
    b'{"metadata": ',
    b"not json",
    b"{'metadata': {}}",
    b'{"metadata": {}}}',
    b'{"metadata": {},,}',
    b'{"limit": NaN}',
    b"\xff\xfe{\x00}",
    b'{"metadata": {"a": 1]}',
]


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
async def test_malformed_json(check: Checker, method: str, path: str) -> None:
    for raw in MALFORMED:
        await check.rejects(
            method, path, content=raw, status=422, detail="Invalid JSON in request body"
        )


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
async def test_wrong_root_type(check: Checker, method: str, path: str) -> None:
    roots: list[bytes] = [b'"text"', b"5", b"true", b"null"]
    roots.append(b"{}" if path == "/runs/batch" else b"[]")
    for raw in roots:
        await check.rejects(method, path, content=raw, status=422)


# (method, path, body): a field of the wrong type, or an id that is not a UUID.
WRONG_TYPES = [
    ("POST", "/threads", {"metadata": "x"}),
    ("POST", "/threads", {"thread_id": 5}),
    ("POST", "/threads", {"thread_id": "not-a-uuid"}),
    ("POST", "/threads", {"ttl": "soon"}),
    ("POST", "/threads", {"ttl": {"ttl": "soon"}}),
    ("POST", "/threads", {"supersteps": "x"}),
    ("PATCH", "/threads/{t}", {"metadata": ["x"]}),
    ("PATCH", "/threads/{t}", {"ttl": []}),
    ("POST", "/threads/search", {"limit": "ten"}),
    ("POST", "/threads/search", {"offset": -1}),
    ("POST", "/threads/search", {"ids": "x"}),
    ("POST", "/threads/search", {"ids": ["not-a-uuid"]}),
    ("POST", "/threads/search", {"metadata": 5}),
    ("POST", "/threads/search", {"extract": {"x": 5}}),
    ("POST", "/threads/search", {"select": "thread_id"}),
    ("POST", "/threads/count", {"values": []}),
    ("POST", "/threads/prune", {"thread_ids": "x"}),
    ("POST", "/threads/prune", {"thread_ids": ["not-a-uuid"]}),
    ("POST", "/threads/prune", {}),
    ("POST", "/threads/{t}/state", {"as_node": 5}),
    ("POST", "/threads/{t}/state", {"checkpoint": "x"}),
    ("POST", "/threads/{t}/state/checkpoint", {}),
    ("POST", "/threads/{t}/state/checkpoint", {"checkpoint": {"checkpoint_id": 5}}),
    ("POST", "/threads/{t}/history", {"limit": 0}),
    ("POST", "/threads/{t}/history", {"before": 5}),
    ("POST", "/threads/{t}/runs", {}),
    ("POST", "/threads/{t}/runs", {"assistant_id": 5}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "not-a-graph"}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "config": []}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "metadata": "x"}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "command": "go"}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "after_seconds": "later"}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "checkpoint": {"checkpoint_id": 5}}),
    ("POST", "/threads/{t}/runs", {"assistant_id": "agent", "webhook": 5}),
    ("POST", "/threads/{t}/runs/stream", {"assistant_id": "agent", "stream_mode": 5}),
    ("POST", "/runs", {"assistant_id": ["agent"]}),
    ("POST", "/runs", {"assistant_id": "agent", "context": "x"}),
    ("POST", "/runs/stream", {"assistant_id": "agent", "interrupt_before": 5}),
    ("POST", "/runs/wait", {"assistant_id": "agent", "stream_subgraphs": "yes"}),
    ("POST", "/runs/batch", [{"assistant_id": "agent"}, {"assistant_id": 5}]),
    ("POST", "/runs/batch", [{"assistant_id": "agent"}, {"assistant_id": "not-a-graph"}]),
    ("POST", "/runs/cancel", {"thread_id": "not-a-uuid", "run_ids": ["x"]}),
    ("POST", "/runs/cancel", {"thread_id": "{t}", "run_ids": ["not-a-uuid"]}),
    ("POST", "/runs/cancel", {"thread_id": "{t}", "run_ids": "x"}),
    ("POST", "/threads/{t}/runs/crons", {"assistant_id": "agent", "schedule": 5}),
    ("POST", "/threads/{t}/runs/crons", {"assistant_id": "agent", "schedule": "every day"}),
    ("POST", "/runs/crons", {"assistant_id": "agent", "schedule": "* * * * *", "enabled": "x"}),
    ("POST", "/runs/crons", {"assistant_id": "agent", "schedule": "* * * * *", "timezone": 5}),
    (
        "POST",
        "/runs/crons",
        {"assistant_id": "agent", "schedule": "* * * * *", "timezone": "Mars/Base"},
    ),
    ("POST", "/runs/crons", {"assistant_id": "agent", "schedule": "* * * * *", "end_time": "soon"}),
    ("POST", "/runs/crons", {"assistant_id": "agent", "schedule": "* * * * *", "metadata": []}),
    ("POST", "/runs/crons", {"assistant_id": {}, "schedule": "* * * * *"}),
    ("POST", "/runs/crons", {"schedule": "* * * * *"}),
    ("PATCH", "/runs/crons/{c}", {}),
    ("PATCH", "/runs/crons/{c}", {"enabled": None}),
    ("PATCH", "/runs/crons/{c}", {"enabled": "x"}),
    ("PATCH", "/runs/crons/{c}", {"metadata": None}),
    ("PATCH", "/runs/crons/{c}", {"schedule": "every day"}),
    ("PATCH", "/runs/crons/{c}", {"timezone": ["UTC"]}),
    ("PATCH", "/runs/crons/{c}", {"end_time": 5}),
    ("PATCH", "/runs/crons/{c}", {"interrupt_before": 5}),
    ("POST", "/runs/crons/search", {"thread_id": "not-a-uuid"}),
    ("POST", "/runs/crons/search", {"enabled": "x"}),
    ("POST", "/runs/crons/count", {"metadata": "x"}),
    ("POST", "/assistants", {}),
    ("POST", "/assistants", {"graph_id": 5}),
    ("POST", "/assistants", {"graph_id": "agent", "assistant_id": "not-a-uuid"}),
    ("POST", "/assistants", {"graph_id": "agent", "config": "x"}),
    ("POST", "/assistants", {"graph_id": "agent", "name": 5}),
    ("PATCH", "/assistants/{a}", {"metadata": "x"}),
    ("PATCH", "/assistants/{a}", {"graph_id": "not-a-graph"}),
    ("PATCH", "/assistants/{a}", {"name": None}),
    ("POST", "/assistants/search", {"limit": 10_001}),
    ("POST", "/assistants/search", {"select": ["nope"]}),
    ("POST", "/assistants/search", {"sort_by": "nope"}),
    ("POST", "/assistants/count", {"name": 5}),
    ("POST", "/assistants/{a}/versions", {"limit": "x"}),
    ("POST", "/assistants/{a}/latest", {}),
    ("POST", "/assistants/{a}/latest", {"version": "1"}),
    ("PUT", "/store/items", {"namespace": "a.b", "key": "k", "value": {}}),
    ("PUT", "/store/items", {"namespace": ["a"], "key": 5, "value": {}}),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": [1]}),
    ("PUT", "/store/items", {"namespace": ["a.b"], "key": "k", "value": {}}),
    ("PUT", "/store/items", {"namespace": [""], "key": "k", "value": {}}),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": 0}),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": "x"}),
    ("DELETE", "/store/items", {"namespace": ["a"]}),
    ("DELETE", "/store/items", {"namespace": [5], "key": "k"}),
    ("POST", "/store/items/search", {"namespace_prefix": "a"}),
    ("POST", "/store/items/search", {"filter": []}),
    ("POST", "/store/items/search", {"limit": 0}),
    ("POST", "/store/items/search", {"query": "semantic"}),
    ("POST", "/store/namespaces", {"prefix": "a"}),
    ("POST", "/store/namespaces", {"max_depth": 0}),
]


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [" ".join(str(part)[:60] for part in c if part is not None) for c in cases]


def _fill(body: Any, world: World) -> Any:
    if isinstance(body, str):
        return world.path(body) if "{" in body else body
    if isinstance(body, dict):
        return {k: _fill(v, world) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, world) for v in body]
    return body


@pytest.mark.parametrize(("method", "path", "body"), WRONG_TYPES, ids=_ids(WRONG_TYPES))
async def test_wrong_types_and_ids(check: Checker, method: str, path: str, body: Any) -> None:
    await check.rejects(method, path, body=_fill(body, check.world))


# (method, path, body or None, query or None): a value outside its enum.
RUN = {"assistant_id": "agent"}
CRON = {"assistant_id": "agent", "schedule": "0 0 1 1 *"}
UNKNOWN_ENUMS = [
    ("POST", "/threads", {"if_exists": "overwrite"}, None),
    ("POST", "/threads", {"ttl": {"ttl": 5, "strategy": "forget"}}, None),
    ("PATCH", "/threads/{t}", {"ttl": {"ttl": 5, "strategy": "forget"}}, None),
    ("POST", "/threads/search", {"status": "sleeping"}, None),
    ("POST", "/threads/search", {"sort_order": "sideways"}, None),
    ("POST", "/threads/search", {"sort_by": "colour"}, None),
    ("POST", "/threads/search", {"select": ["colour"]}, None),
    ("POST", "/threads/count", {"status": "sleeping"}, None),
    ("POST", "/threads/prune", {"thread_ids": [], "strategy": "shred"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "multitask_strategy": "shove"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "stream_mode": "everything"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "durability": "forever"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "if_not_exists": "maybe"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "interrupt_before": "all"}, None),
    ("POST", "/threads/{t}/runs/stream", {**RUN, "stream_mode": ["values", "nope"]}, None),
    ("POST", "/threads/{t}/runs/wait", {**RUN, "on_disconnect": "shrug"}, None),
    ("POST", "/runs", {**RUN, "on_completion": "archive"}, None),
    ("POST", "/runs/wait", {**RUN, "on_completion": "archive"}, None),
    ("POST", "/runs/stream", {**RUN, "stream_mode": "everything"}, None),
    ("POST", "/runs/batch", [RUN, {**RUN, "durability": "forever"}], None),
    ("POST", "/runs/cancel", {"status": "sleeping"}, None),
    ("POST", "/runs/cancel", {"status": "all"}, {"action": "explode"}),
    ("POST", "/threads/{t}/runs/{r}/cancel", None, {"action": "explode"}),
    ("GET", "/threads/{t}/runs", None, {"status": "sleeping"}),
    ("GET", "/threads/{t}/runs", None, {"select": "colour"}),
    ("GET", "/threads/{t}/stream", None, {"stream_modes": "everything"}),
    ("GET", "/assistants/{a}/graph", None, {"xray": "deep"}),
    ("POST", "/threads/{t}/runs/crons", {**CRON, "multitask_strategy": "shove"}, None),
    ("POST", "/threads/{t}/runs/crons", {**CRON, "stream_mode": "everything"}, None),
    ("POST", "/runs/crons", {**CRON, "on_run_completed": "archive"}, None),
    ("POST", "/runs/crons", {**CRON, "durability": "forever"}, None),
    ("PATCH", "/runs/crons/{c}", {"on_run_completed": "archive"}, None),
    ("PATCH", "/runs/crons/{c}", {"stream_mode": "everything"}, None),
    ("POST", "/runs/crons/search", {"sort_order": "sideways"}, None),
    ("POST", "/runs/crons/search", {"sort_by": "colour"}, None),
    ("POST", "/runs/crons/search", {"select": ["colour"]}, None),
    ("POST", "/assistants", {"graph_id": "agent", "if_exists": "overwrite"}, None),
    ("POST", "/assistants/search", {"sort_order": "sideways"}, None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "query"), UNKNOWN_ENUMS, ids=_ids(UNKNOWN_ENUMS)
)
async def test_unknown_enum_values(
    check: Checker, method: str, path: str, body: Any, query: Any
) -> None:
    await check.rejects(method, path, body=body, params=query, status=422)


# Every operation with an id in its path.
PATH_ID_OPERATIONS = [
    ("GET", "/threads/{t}"),
    ("PATCH", "/threads/{t}"),
    ("DELETE", "/threads/{t}"),
    ("POST", "/threads/{t}/copy"),
    ("GET", "/threads/{t}/state"),
    ("POST", "/threads/{t}/state"),
    ("GET", "/threads/{t}/state/{cp}"),
    ("POST", "/threads/{t}/state/checkpoint"),
    ("POST", "/threads/{t}/history"),
    ("GET", "/threads/{t}/history"),
    ("GET", "/threads/{t}/stream"),
    ("GET", "/threads/{t}/storage"),
    ("POST", "/threads/{t}/runs"),
    ("GET", "/threads/{t}/runs"),
    ("POST", "/threads/{t}/runs/stream"),
    ("POST", "/threads/{t}/runs/wait"),
    ("GET", "/threads/{t}/runs/{r}"),
    ("DELETE", "/threads/{t}/runs/{r}"),
    ("GET", "/threads/{t}/runs/{r}/join"),
    ("GET", "/threads/{t}/runs/{r}/stream"),
    ("POST", "/threads/{t}/runs/{r}/cancel"),
    ("POST", "/threads/{t}/runs/crons"),
    ("GET", "/runs/{r}/stream"),
    ("GET", "/runs/crons/{c}"),
    ("PATCH", "/runs/crons/{c}"),
    ("DELETE", "/runs/crons/{c}"),
    ("GET", "/assistants/{a}"),
    ("PATCH", "/assistants/{a}"),
    ("DELETE", "/assistants/{a}"),
    ("GET", "/assistants/{a}/graph"),
    ("GET", "/assistants/{a}/schemas"),
    ("GET", "/assistants/{a}/subgraphs"),
    ("GET", "/assistants/{a}/subgraphs/{cp}"),
    ("POST", "/assistants/{a}/versions"),
    ("POST", "/assistants/{a}/latest"),
]
NON_UUIDS = ["not-a-uuid", "123", "e3e70682-c209-4cac-a29f-6fbed82c07c", "%20"]
KIND = {"t": "thread", "r": "run", "c": "cron", "a": "assistant"}


@pytest.mark.parametrize(("method", "path"), PATH_ID_OPERATIONS)
async def test_non_uuid_path_ids(check: Checker, method: str, path: str) -> None:
    """Each id of the path in turn is not a UUID (the others name resources that exist)."""
    body = {"assistant_id": "agent", "schedule": "0 0 1 1 *", "version": 1}
    for key, kind in KIND.items():
        if "{" + key + "}" not in path:
            continue
        for bad in NON_UUIDS:
            bad_path = path.replace("{" + key + "}", bad)
            await check.rejects(
                method,
                bad_path,
                body=body if method != "GET" else None,
                status=422,
                detail=f"Invalid {kind} ID: must be a UUID",
            )


async def _chunks(total: int) -> AsyncIterator[bytes]:
    """A JSON body of ``total`` bytes, sent chunked (no Content-Length)."""
    head = b'{"metadata": {"pad": "'
    yield head
    left = total - len(head) - 3
    while left > 0:
        n = min(left, 1024 * 1024)
        yield b"x" * n
        left -= n
    yield b'"}}'


HUGE_OPERATIONS = [
    ("POST", "/threads"),
    ("PATCH", "/threads/{t}"),
    ("POST", "/threads/{t}/runs"),
    ("POST", "/runs/stream"),
    ("POST", "/runs/wait"),
    ("POST", "/runs/crons"),
    ("PATCH", "/runs/crons/{c}"),
    ("POST", "/assistants"),
    ("PUT", "/store/items"),
]


@pytest.mark.parametrize(("method", "path"), HUGE_OPERATIONS)
async def test_huge_body_is_413(check: Checker, method: str, path: str) -> None:
    size = MAX_BODY + 1024
    head = b'{"metadata": {"pad": "'
    whole = head + b"x" * (size - len(head) - 3) + b'"}}'
    await check.rejects(method, path, content=whole, status=413)
    await check.rejects(method, path, content=_chunks(size), status=413)


async def test_body_just_under_the_limit_is_read(check: Checker) -> None:
    """The limit is 10 MiB, not less: a 9 MiB body is read (and, here, refused for what it
    says, not for its size)."""
    pad = "x" * (9 * 1024 * 1024)
    detail = await check.rejects("POST", "/threads/search", body={"metadata": {}, "limit": pad})
    assert "limit" in detail


def _nested_lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"{}" + b"}" * depth


# (method, path, JSON before the nested value, JSON after it)
NESTED_PLACES = [
    ("POST", "/threads", b'{"metadata": {"deep": ', b"}}"),
    ("PATCH", "/threads/{t}", b'{"metadata": {"deep": ', b"}}"),
    ("POST", "/threads/search", b'{"metadata": {"deep": ', b"}}"),
    ("POST", "/threads/{t}/state", b'{"values": {"deep": ', b"}}"),
    ("POST", "/threads/{t}/runs", b'{"assistant_id": "agent", "input": {"deep": ', b"}}"),
    ("POST", "/threads/{t}/runs/wait", b'{"assistant_id": "agent", "input": ', b"}"),
    ("POST", "/runs/stream", b'{"assistant_id": "agent", "metadata": {"deep": ', b"}}"),
    ("POST", "/runs/batch", b'[{"assistant_id": "agent", "input": ', b"}]"),
    ("POST", "/runs/crons", b'{"assistant_id": "agent", "schedule": "0 0 1 1 *", "input": ', b"}"),
    ("POST", "/assistants", b'{"graph_id": "agent", "config": {"configurable": {"deep": ', b"}}}"),
    ("PATCH", "/assistants/{a}", b'{"metadata": {"deep": ', b"}}"),
    ("PUT", "/store/items", b'{"namespace": ["a"], "key": "k", "value": {"deep": ', b"}}"),
    ("POST", "/store/items/search", b'{"filter": {"deep": ', b"}}"),
]


@pytest.mark.parametrize(("method", "path", "before", "after"), NESTED_PLACES)
async def test_deeply_nested_json(
    check: Checker, method: str, path: str, before: bytes, after: bytes
) -> None:
    for nested in (_nested_lists(DEPTH), _nested_objects(DEPTH)):
        await check.rejects(method, path, content=before + nested + after, status=422)


async def test_moderate_nesting_is_accepted(check: Checker) -> None:
    """The depth limit leaves room for real documents (100 levels)."""
    body = b'{"metadata": {"deep": ' + _nested_objects(100) + b"}}"
    response = await check.http.post("/threads", content=body)
    assert response.status_code == 200, response.text
    await check.http.delete(f"/threads/{response.json()['thread_id']}")


# (method, path, body or None, query or None, headers or None): a number out of range.
BIG = 10**30
OUT_OF_RANGE = [
    ("POST", "/threads", {"ttl": 1e300}, None, None),
    ("POST", "/threads", {"ttl": {"ttl": -5}}, None, None),
    ("PATCH", "/threads/{t}", {"ttl": {"ttl": 1e300}}, None, None),
    ("POST", "/threads/search", {"offset": 2**63}, None, None),
    ("POST", "/threads/search", {"limit": BIG}, None, None),
    ("POST", "/threads/{t}/history", {"limit": BIG}, None, None),
    ("GET", "/threads/{t}/history", None, {"limit": str(BIG)}, None),
    ("GET", "/threads/{t}/history", None, {"limit": "0"}, None),
    ("GET", "/threads/{t}/runs", None, {"limit": str(BIG)}, None),
    ("GET", "/threads/{t}/runs", None, {"offset": str(BIG)}, None),
    ("GET", "/threads/{t}/runs", None, {"limit": "ten"}, None),
    ("GET", "/threads/{t}/stream", None, None, {"Last-Event-ID": f"{BIG}-{BIG}"}),
    ("GET", "/assistants/{a}/graph", None, {"xray": "-1"}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "after_seconds": 1e300}, None, None),
    ("POST", "/threads/{t}/runs", {**RUN, "after_seconds": -1}, None, None),
    ("POST", "/assistants/{a}/latest", {"version": 2**31}, None, None),
    ("POST", "/assistants/{a}/latest", {"version": BIG}, None, None),
    ("POST", "/assistants/{a}/versions", {"offset": BIG}, None, None),
    ("POST", "/runs/crons/search", {"offset": 2**64}, None, None),
    ("POST", "/runs/crons", {**CRON, "end_time": "99999-01-01T00:00:00"}, None, None),
    (
        "PUT",
        "/store/items",
        {"namespace": ["a"], "key": "k", "value": {}, "ttl": 1e300},
        None,
        None,
    ),
    ("POST", "/store/items/search", {"offset": BIG}, None, None),
    ("POST", "/store/items/search", {"limit": BIG}, None, None),
    ("POST", "/store/namespaces", {"max_depth": BIG}, None, None),
    ("POST", "/store/namespaces", {"limit": BIG}, None, None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "headers"), OUT_OF_RANGE, ids=_ids(OUT_OF_RANGE)
)
async def test_numbers_out_of_range(
    check: Checker, method: str, path: str, body: Any, query: Any, headers: Any
) -> None:
    await check.rejects(method, path, body=body, params=query, headers=headers)


# (method, path, body or None, query or None): a string with a NUL character.
NUL = "a\x00b"
NULS = [
    ("POST", "/threads", {"metadata": {"k": NUL}}, None),
    ("POST", "/threads", {"metadata": {NUL: 1}}, None),
    ("PATCH", "/threads/{t}", {"metadata": {"k": NUL}}, None),
    ("POST", "/threads/count", {"metadata": {"k": NUL}}, None),
    ("POST", "/threads/{t}/runs", {**RUN, "input": {"messages": [NUL]}}, None),
    ("POST", "/runs/wait", {**RUN, "metadata": {"k": NUL}}, None),
    ("POST", "/runs/crons", {**CRON, "metadata": {"k": NUL}}, None),
    ("POST", "/runs/crons", {**CRON, "timezone": NUL}, None),
    ("POST", "/assistants", {"graph_id": "agent", "name": NUL}, None),
    ("POST", "/assistants/count", {"graph_id": NUL}, None),
    ("PATCH", "/assistants/{a}", {"description": NUL}, None),
    ("PUT", "/store/items", {"namespace": ["a"], "key": NUL, "value": {}}, None),
    ("PUT", "/store/items", {"namespace": [NUL], "key": "k", "value": {}}, None),
    ("DELETE", "/store/items", {"namespace": ["a"], "key": NUL}, None),
    ("GET", "/store/items", None, {"namespace": "a", "key": NUL}),
    ("GET", "/threads/{t}/state/a%00b", None, None),
    ("GET", "/threads/{t}/history", None, {"before": NUL}),
]


@pytest.mark.parametrize(("method", "path", "body", "query"), NULS, ids=_ids(NULS))
async def test_nul_characters(
    check: Checker, method: str, path: str, body: Any, query: Any
) -> None:
    await check.rejects(method, path, body=body, params=query)


async def test_the_server_still_answers(check: Checker) -> None:
    ok = await check.http.get("/ok", params={"check_db": "1"})
    assert ok.status_code == 200
    assert ok.json() == {"ok": True, "services": {"postgres": "ok"}}
    thread = await check.http.get(f"/threads/{check.world.thread}")
    assert thread.status_code == 200
    assert uuid.UUID(thread.json()["thread_id"])
