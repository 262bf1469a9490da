"""Two owners through the official SDK (issue 8), on the shipped example ``docs/auth``.

Alice (``token-alice``, permission ``assistants:delete``) owns threads, runs, an assistant,
crons and store items; Bob (``token-bob``) owns a few of his own. Every operation of the
API.md appendix that names one of Alice's resources is tried by Bob, and must answer as if
the resource did not exist: the same status and detail (ids aside) as the same call on
fresh random ids, which is 404 mostly, 403 where a handler refuses (Bob deleting an
assistant), 409 for a copy, the ``__error__`` body of a join, one ``error`` event on a
join stream. Afterwards everything Alice sees is exactly as before. Bob's searches and
counts hold only his own things; the store keeps each user under their own namespace;
the API needs a valid token except its public pages; runs and graphs see the real caller.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)

from tests.contract.auth_example import ALICE, AUTH_EXAMPLE, BOB, NO_TOKEN_DELAY
from tests.pg import create_database, drop_database
from tests.server import ROOT, running_server

WHOAMI = str(ROOT / "tests" / "graphs" / "auth_langgraph.json")
HI = {"messages": [{"role": "user", "content": "hi"}]}
YEARLY = "0 0 1 1 *"  # never fires while the tests run
RUN_NOT_FOUND = {"__error__": {"error": "HTTPException", "message": "404: Run not found"}}
RUN_NOT_FOUND_EVENTS = [("error", {"error": "HTTPException", "message": "404: Run not found"})]
ALICE_USER = {
    "identity": "alice",
    "display_name": "Alice",
    "is_authenticated": True,
    "permissions": ["assistants:delete"],
}


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=AUTH_EXAMPLE, env=NO_TOKEN_DELAY) as url:
        yield url


def _client(url: str, headers: dict[str, str] | None) -> LangGraphClient:
    return get_client(url=url, headers=headers)


@pytest.fixture(scope="module")
async def alice(server_url: str) -> AsyncIterator[LangGraphClient]:
    c = _client(server_url, ALICE)
    yield c
    await c.http.client.aclose()


@pytest.fixture(scope="module")
async def bob(server_url: str) -> AsyncIterator[LangGraphClient]:
    c = _client(server_url, BOB)
    yield c
    await c.http.client.aclose()


@dataclass(frozen=True)
class Owned:
    """Alice's resources (the ids Bob aims at) and Bob's own."""

    alice: dict[str, str]
    """thread (interrupted: two finished runs, the last stopped before its tools), run (its
    first run), checkpoint (an early checkpoint of it), thread2 and pending (a run there
    not due for an hour), assistant (at version 2), cron (on thread), stateless_cron (on
    her assistant)."""
    bob: dict[str, str]
    """thread (a finished run), assistant, cron."""


@pytest.fixture(scope="module")
async def owned(alice: LangGraphClient, bob: LangGraphClient) -> Owned:
    thread = await alice.threads.create(metadata={"project": "alpha"})
    tid = thread["thread_id"]
    assert thread["metadata"]["owner"] == "alice"  # stamped by the global handler
    first = await alice.runs.create(tid, "agent", input=HI)
    await alice.runs.join(tid, first["run_id"])
    assistant = await alice.assistants.create(
        "agent", metadata={"team": "a"}, name="alice-bot", config={"tags": ["alice"]}
    )
    aid = assistant["assistant_id"]
    assert assistant["metadata"]["owner"] == "alice"
    assert (await alice.assistants.update(aid, metadata={"stage": "v2"}))["version"] == 2
    second = await alice.runs.create(
        tid,
        aid,
        input={"messages": [{"role": "user", "content": "the weather in sf?"}]},
        interrupt_before=["tools"],
    )
    await alice.runs.join(tid, second["run_id"])
    assert (await alice.threads.get(tid))["status"] == "interrupted"
    # A run stopped by interrupt_before ends "success" (API.md §5.2); its thread waits.
    assert [r["status"] for r in await alice.runs.list(tid)] == ["success", "success"]
    history = await alice.threads.get_history(tid, limit=100)
    assert len(history) > 3
    thread2 = await alice.threads.create(metadata={"project": "beta"})
    pending = await alice.runs.create(thread2["thread_id"], "agent", input=HI, after_seconds=3600)
    cron = await alice.crons.create_for_thread(tid, "agent", schedule=YEARLY, input=HI)
    stateless_cron = await alice.crons.create(aid, schedule=YEARLY, input=HI)
    await alice.store.put_item(["notes"], "k1", {"text": "alice's note"})

    bob_thread = await bob.threads.create(metadata={"project": "bob"})
    bob_run = await bob.runs.create(bob_thread["thread_id"], "agent", input=HI)
    await bob.runs.join(bob_thread["thread_id"], bob_run["run_id"])
    bob_assistant = await bob.assistants.create("agent", name="bob-bot")
    bob_cron = await bob.crons.create_for_thread(bob_thread["thread_id"], "agent", schedule=YEARLY)
    await bob.store.put_item(["notes"], "k2", {"text": "bob's note"})
    return Owned(
        alice={
            "thread": tid,
            "run": first["run_id"],
            "checkpoint": history[-2]["checkpoint_id"],
            "thread2": thread2["thread_id"],
            "pending": pending["run_id"],
            "assistant": aid,
            "cron": cron["cron_id"],
            "stateless_cron": stateless_cron["cron_id"],
        },
        bob={
            "thread": bob_thread["thread_id"],
            "assistant": bob_assistant["assistant_id"],
            "cron": bob_cron["cron_id"],
        },
    )


async def alice_view(alice: LangGraphClient, ids: dict[str, str]) -> dict[str, Any]:
    """Everything Alice can read of her resources, timestamps included."""
    tid, tid2, aid = ids["thread"], ids["thread2"], ids["assistant"]
    return {
        "threads": [await alice.threads.get(t) for t in (tid, tid2)],
        "state": await alice.threads.get_state(tid),
        "history": await alice.threads.get_history(tid, limit=100),
        "runs": [await alice.runs.list(t, limit=100) for t in (tid, tid2)],
        "run": await alice.runs.get(tid, ids["run"]),
        "assistant": await alice.assistants.get(aid),
        "versions": await alice.assistants.get_versions(aid),
        "crons": [
            await alice.http.get(f"/runs/crons/{c}") for c in (ids["cron"], ids["stateless_cron"])
        ],
        "store": await alice.store.get_item(["notes"], "k1"),
        "store_search": await alice.store.search_items([]),
        "namespaces": await alice.store.list_namespaces(),
        "thread_search": await alice.threads.search(limit=100),
        "assistant_search": await alice.assistants.search(limit=100),
        "cron_search": await alice.crons.search(limit=100),
    }


# --- Bob's attempts on Alice's resources -----------------------------------------------

Call = Callable[[LangGraphClient, dict[str, str], dict[str, str]], Awaitable[Any]]
"""(Bob's client, the target ids, Bob's own ids) -> the answer."""
ANY = object()
"""Expect only what the same call on missing ids answers."""


async def _events(
    parts: AsyncIterator[Any] | Awaitable[AsyncIterator[Any]],
) -> list[tuple[str, Any]]:
    """A stream's (event, data) pairs (``threads.join_stream`` is awaited first)."""
    if inspect.isawaitable(parts):
        parts = await parts
    return [(part.event, part.data) async for part in parts]


ATTEMPTS: list[tuple[str, Call, Any]] = [
    # threads
    ("threads.get", lambda b, a, o: b.threads.get(a["thread"]), 404),
    ("threads.get ttl", lambda b, a, o: b.threads.get(a["thread"], include=["ttl"]), 404),
    (
        "threads.update",
        lambda b, a, o: b.threads.update(a["thread"], metadata={"project": "bob", "x": 1}),
        404,
    ),
    ("threads.copy", lambda b, a, o: b.threads.copy(a["thread"]), 409),
    ("threads.get_state", lambda b, a, o: b.threads.get_state(a["thread"]), 404),
    (
        "threads.get_state at checkpoint (GET)",
        lambda b, a, o: b.threads.get_state(a["thread"], checkpoint_id=a["checkpoint"]),
        404,
    ),
    (
        "threads.get_state at checkpoint (POST)",
        lambda b, a, o: b.threads.get_state(
            a["thread"], checkpoint={"checkpoint_id": a["checkpoint"], "checkpoint_ns": ""}
        ),
        404,
    ),
    (
        "threads.update_state",
        lambda b, a, o: b.threads.update_state(
            a["thread"], {"messages": [{"role": "user", "content": "bob"}]}
        ),
        404,
    ),
    (
        "threads.update_state at checkpoint",
        lambda b, a, o: b.threads.update_state(
            a["thread"], {"messages": []}, checkpoint_id=a["checkpoint"], as_node="agent"
        ),
        404,
    ),
    ("threads.get_history (POST)", lambda b, a, o: b.threads.get_history(a["thread"]), 404),
    (
        "threads history (GET)",
        lambda b, a, o: b.http.get(f"/threads/{a['thread']}/history", params={"limit": 5}),
        404,
    ),
    ("threads storage", lambda b, a, o: b.http.get(f"/threads/{a['thread']}/storage"), 404),
    ("threads.join_stream", lambda b, a, o: _events(b.threads.join_stream(a["thread"])), 404),
    # Bob's own thread, with a checkpoint that names Alice's thread: his own is read.
    (
        "own thread, state at her checkpoint",
        lambda b, a, o: b.threads.get_state(
            o["thread"], checkpoint={"thread_id": a["thread"], "checkpoint_id": a["checkpoint"]}
        ),
        ANY,
    ),
    (
        "own thread, history of her thread",
        lambda b, a, o: b.threads.get_history(
            o["thread"], limit=100, checkpoint={"thread_id": a["thread"], "checkpoint_ns": ""}
        ),
        ANY,
    ),
    # runs on her threads
    ("runs.list", lambda b, a, o: b.runs.list(a["thread"]), 404),
    ("runs.create", lambda b, a, o: b.runs.create(a["thread"], "agent", input=HI), 404),
    (
        "runs.create interrupt",
        lambda b, a, o: b.runs.create(
            a["thread2"], "agent", input=HI, multitask_strategy="interrupt"
        ),
        404,
    ),
    (
        "runs.create rollback",
        lambda b, a, o: b.runs.create(
            a["thread2"], "agent", input=HI, multitask_strategy="rollback"
        ),
        404,
    ),
    ("runs.wait", lambda b, a, o: b.runs.wait(a["thread"], "agent", input=HI), 404),
    (
        "runs.stream",
        lambda b, a, o: _events(b.runs.stream(a["thread"], "agent", input=HI)),
        404,
    ),
    (
        "runs.create_batch on her assistant",
        lambda b, a, o: b.runs.create_batch([{"assistant_id": a["assistant"], "input": HI}]),
        404,
    ),
    ("runs.get", lambda b, a, o: b.runs.get(a["thread"], a["run"]), 404),
    ("runs.get via own thread", lambda b, a, o: b.runs.get(o["thread"], a["run"]), 404),
    ("runs.get pending", lambda b, a, o: b.runs.get(a["thread2"], a["pending"]), 404),
    ("runs.cancel pending", lambda b, a, o: b.runs.cancel(a["thread2"], a["pending"]), 404),
    (
        "runs.cancel pending, wait",
        lambda b, a, o: b.runs.cancel(a["thread2"], a["pending"], wait=True),
        404,
    ),
    (
        "runs.cancel pending, rollback",
        lambda b, a, o: b.runs.cancel(a["thread2"], a["pending"], action="rollback"),
        404,
    ),
    (
        "runs.cancel pending via own thread",
        lambda b, a, o: b.runs.cancel(o["thread"], a["pending"]),
        404,
    ),
    ("runs.cancel finished", lambda b, a, o: b.runs.cancel(a["thread"], a["run"]), 404),
    (
        "runs.cancel_many",
        lambda b, a, o: b.runs.cancel_many(thread_id=a["thread2"], run_ids=[a["pending"]]),
        404,
    ),
    ("runs.join", lambda b, a, o: b.runs.join(a["thread"], a["run"]), RUN_NOT_FOUND),
    ("runs.join pending", lambda b, a, o: b.runs.join(a["thread2"], a["pending"]), RUN_NOT_FOUND),
    (
        "runs.join_stream",
        lambda b, a, o: _events(b.runs.join_stream(a["thread"], a["run"])),
        RUN_NOT_FOUND_EVENTS,
    ),
    (
        "runs.join_stream pending",
        lambda b, a, o: _events(b.runs.join_stream(a["thread2"], a["pending"])),
        RUN_NOT_FOUND_EVENTS,
    ),
    (
        "join stream without thread (GET /runs/{run_id}/stream)",
        lambda b, a, o: _events(b.http.stream(f"/runs/{a['pending']}/stream", "GET")),
        RUN_NOT_FOUND_EVENTS,
    ),
    # her assistant
    ("assistants.get", lambda b, a, o: b.assistants.get(a["assistant"]), 404),
    (
        "assistants.update",
        lambda b, a, o: b.assistants.update(a["assistant"], name="bob's now", metadata={"x": 1}),
        404,
    ),
    ("assistants.get_versions", lambda b, a, o: b.assistants.get_versions(a["assistant"]), 404),
    ("assistants.set_latest", lambda b, a, o: b.assistants.set_latest(a["assistant"], 1), 404),
    ("assistants.get_graph", lambda b, a, o: b.assistants.get_graph(a["assistant"]), 404),
    ("assistants.get_schemas", lambda b, a, o: b.assistants.get_schemas(a["assistant"]), 404),
    ("assistants.get_subgraphs", lambda b, a, o: b.assistants.get_subgraphs(a["assistant"]), 404),
    (
        "assistants.get_subgraphs namespace",
        lambda b, a, o: b.assistants.get_subgraphs(a["assistant"], namespace="agent"),
        404,
    ),
    ("stateless run on her assistant", lambda b, a, o: b.runs.create(None, a["assistant"]), 404),
    (
        "run on her assistant, own thread",
        lambda b, a, o: b.runs.create(o["thread"], a["assistant"], input=HI),
        404,
    ),
    (
        "run on her assistant, own thread, interrupt",
        lambda b, a, o: b.runs.create(
            o["thread"], a["assistant"], input=HI, multitask_strategy="interrupt"
        ),
        404,
    ),
    (
        "wait on her assistant",
        lambda b, a, o: b.runs.wait(None, a["assistant"], input=HI),
        404,
    ),
    (
        "stream on her assistant",
        lambda b, a, o: _events(b.runs.stream(None, a["assistant"], input=HI)),
        404,
    ),
    (
        "cron on her assistant",
        lambda b, a, o: b.crons.create(a["assistant"], schedule=YEARLY),
        404,
    ),
    (
        "cron on her assistant, own thread",
        lambda b, a, o: b.crons.create_for_thread(o["thread"], a["assistant"], schedule=YEARLY),
        404,
    ),
    (
        "own cron onto her assistant",
        lambda b, a, o: b.http.patch(
            f"/runs/crons/{o['cron']}", json={"assistant_id": a["assistant"]}
        ),
        404,
    ),
    # her crons
    ("crons get", lambda b, a, o: b.http.get(f"/runs/crons/{a['cron']}"), 404),
    ("crons get stateless", lambda b, a, o: b.http.get(f"/runs/crons/{a['stateless_cron']}"), 404),
    (
        "crons.update",
        lambda b, a, o: b.crons.update(a["cron"], schedule="* * * * *", input={"x": 1}),
        404,
    ),
    (
        "crons.update stateless",
        lambda b, a, o: b.crons.update(a["stateless_cron"], enabled=False),
        404,
    ),
    (
        "crons.create_for_thread on her thread",
        lambda b, a, o: b.crons.create_for_thread(a["thread"], "agent", schedule=YEARLY),
        404,
    ),
    # the destructive ones last
    ("crons.delete", lambda b, a, o: b.crons.delete(a["cron"]), 404),
    ("crons.delete stateless", lambda b, a, o: b.crons.delete(a["stateless_cron"]), 404),
    ("assistants.delete", lambda b, a, o: b.assistants.delete(a["assistant"]), 403),
    (
        "assistants.delete with threads",
        lambda b, a, o: b.assistants.delete(a["assistant"], delete_threads=True),
        403,
    ),
    ("runs.delete", lambda b, a, o: b.runs.delete(a["thread"], a["run"]), 404),
    ("threads.delete", lambda b, a, o: b.threads.delete(a["thread"]), 404),
    ("threads.delete busy", lambda b, a, o: b.threads.delete(a["thread2"]), 404),
    (
        "threads.prune",
        lambda b, a, o: b.threads.prune([a["thread"], a["thread2"]]),
        {"pruned_count": 0},
    ),
    (
        "threads.prune keep_latest",
        lambda b, a, o: b.threads.prune([a["thread"]], strategy="keep_latest"),
        {"pruned_count": 0},
    ),
]


async def outcome(call: Awaitable[Any], ids: dict[str, str]) -> tuple[Any, ...]:
    """What a call answered, with the ids in it replaced by their names."""
    try:
        answer = await asyncio.wait_for(call, 15)
    except httpx.HTTPStatusError as exc:  # the SDK's typed errors, plain ones from wait
        try:
            body = exc.response.json()
        except ValueError:
            body = exc.response.text
        return ("error", exc.response.status_code, _masked(body, ids))
    except TimeoutError:
        return ("no answer in 15 s",)
    return ("ok", _masked(answer, ids))


def _masked(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, id_ in ids.items():
            value = value.replace(id_, f"<{name}>")
        return value
    if isinstance(value, dict):
        return {k: _masked(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, ids) for v in value]
    return value


async def test_bob_cannot_reach_alices_resources(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    before = await alice_view(alice, owned.alice)
    missing = {name: str(uuid.uuid4()) for name in owned.alice}
    failures = []
    for name, call, expected in ATTEMPTS:
        hidden = await outcome(call(bob, owned.alice, owned.bob), owned.alice)
        absent = await outcome(call(bob, missing, owned.bob), missing)
        if isinstance(expected, int):
            ok = hidden[:2] == ("error", expected)
        else:
            ok = expected is ANY or hidden == ("ok", _masked(expected, {}))
        if not ok or hidden != absent:
            failures.append(f"{name}: on hers {hidden}, on missing ids {absent}")
    assert not failures, "\n".join(failures)
    assert await alice_view(alice, owned.alice) == before
    pending = await alice.runs.get(owned.alice["thread2"], owned.alice["pending"])
    assert pending["status"] == "pending"


async def test_bob_cannot_take_alices_ids(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    """Creating with the id of one of her resources is a conflict (it exists) that shows
    nothing of it, whatever ``if_exists`` says; a run with ``if_not_exists=create`` on her
    thread is a 404 and creates nothing."""
    ids = owned.alice
    before = await alice_view(alice, ids)
    for if_exists in (None, "do_nothing"):
        with pytest.raises(ConflictError):
            await bob.threads.create(thread_id=ids["thread"], if_exists=if_exists)
        with pytest.raises(ConflictError):
            await bob.assistants.create("agent", assistant_id=ids["assistant"], if_exists=if_exists)
    with pytest.raises(NotFoundError):
        await bob.runs.create(ids["thread"], "agent", input=HI, if_not_exists="create")
    with pytest.raises(httpx.HTTPStatusError) as exc:  # wait raises httpx's own
        await bob.runs.wait(ids["thread"], "agent", input=HI, if_not_exists="create")
    assert exc.value.response.status_code == 404
    # Bob's cancel-everything reaches none of hers (and he has nothing active).
    for status in ("all", "pending"):
        with pytest.raises(NotFoundError):
            await bob.runs.cancel_many(status=status)  # type: ignore[arg-type]
    assert await alice_view(alice, ids) == before


async def test_bob_searches_and_counts_hold_only_his(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    hers = set(owned.alice.values())

    threads = await bob.threads.search(limit=100)
    assert owned.bob["thread"] in {t["thread_id"] for t in threads}
    assert all(t["metadata"]["owner"] == "bob" for t in threads)
    assert not hers & {t["thread_id"] for t in threads}
    assert await bob.threads.count() == len(threads)
    assert await bob.threads.search(ids=[owned.alice["thread"], owned.alice["thread2"]]) == []
    assert await bob.threads.search(metadata={"project": "alpha"}) == []
    assert await bob.threads.search(status="interrupted") == []
    assert await bob.threads.search(status="busy") == []
    assert await bob.threads.count(metadata={"project": "beta"}) == 0
    assert await bob.threads.count(status="busy") == 0
    # The example's handler stamps the caller into the search value's metadata too; that
    # changes the handler's copy, not the search: asking for Alice's finds nothing.
    assert await bob.threads.search(metadata={"owner": "alice"}, limit=100) == []
    assert await bob.threads.count(metadata={"owner": "alice"}) == 0

    assistants = await bob.assistants.search(limit=100)
    assert [a["assistant_id"] for a in assistants] == [owned.bob["assistant"]]
    assert await bob.assistants.count() == 1
    assert await bob.assistants.search(metadata={"owner": "alice"}) == []
    assert await bob.assistants.search(metadata={"team": "a"}) == []
    assert await bob.assistants.search(name="alice") == []
    assert await bob.assistants.count(metadata={"team": "a"}) == 0
    assert [a["assistant_id"] for a in await bob.assistants.search(graph_id="agent")] == [
        owned.bob["assistant"]
    ]

    crons = await bob.crons.search(limit=100)
    assert [c["cron_id"] for c in crons] == [owned.bob["cron"]]
    assert await bob.crons.count() == 1
    assert await bob.crons.search(thread_id=owned.alice["thread"]) == []
    assert await bob.crons.search(assistant_id=owned.alice["assistant"]) == []
    assert await bob.crons.count(thread_id=owned.alice["thread"]) == 0
    assert await bob.crons.count(assistant_id=owned.alice["assistant"]) == 0

    # And the other way round: Alice sees hers, none of Bob's.
    bobs = set(owned.bob.values())
    her_threads = {t["thread_id"] for t in await alice.threads.search(limit=100)}
    assert {owned.alice["thread"], owned.alice["thread2"]} <= her_threads
    assert not bobs & her_threads
    assert [a["assistant_id"] for a in await alice.assistants.search(limit=100)] == [
        owned.alice["assistant"]
    ]
    her_crons = {c["cron_id"] for c in await alice.crons.search(limit=100)}
    assert her_crons == {owned.alice["cron"], owned.alice["stateless_cron"]}
    assert await alice.crons.count() == 2


async def test_store_keeps_each_user_under_their_namespace(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    mine = await alice.store.get_item(["notes"], "k1")
    assert mine is not None
    assert mine["namespace"] == ["alice", "notes"]
    assert mine["value"] == {"text": "alice's note"}
    her_search = await alice.store.search_items([])
    her_namespaces = await alice.store.list_namespaces()
    assert her_namespaces == {"namespaces": [["alice", "notes"]]}

    for namespace in (["notes"], ["alice", "notes"]):
        assert await bob.store.get_item(namespace, "k1") is None
        search = await bob.store.search_items(namespace)
        assert all(item["namespace"][0] == "bob" for item in search["items"])
        assert "k1" not in {item["key"] for item in search["items"]}
    everything = await bob.store.search_items([], limit=100)
    assert [(i["namespace"], i["key"]) for i in everything["items"]] == [(["bob", "notes"], "k2")]
    namespaces = (await bob.store.list_namespaces())["namespaces"]
    assert namespaces == [["bob", "notes"]]
    assert (await bob.store.list_namespaces(prefix=["alice"]))["namespaces"] == []
    assert (await bob.store.list_namespaces(suffix=["notes"]))["namespaces"] == [["bob", "notes"]]

    # Bob writing and deleting "her" keys touches only his own namespace.
    for namespace in (["notes"], ["alice", "notes"]):
        await bob.store.put_item(namespace, "k1", {"text": "bob was here"})
        written = await bob.store.get_item(namespace, "k1")
        assert written is not None
        assert written["namespace"] == ["bob", *namespace]
        await bob.store.delete_item(namespace, "k1")
        assert await bob.store.get_item(namespace, "k1") is None
    assert await alice.store.get_item(["notes"], "k1") == mine
    assert await alice.store.search_items([]) == her_search
    assert await alice.store.list_namespaces() == her_namespaces


async def test_bob_cannot_hand_his_things_to_alice(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    """Wherever Bob writes metadata naming Alice as the owner, the handler's stamp wins:
    creates and updates of threads, assistants and crons, and a thread a run creates.
    Nothing of his shows up on her side."""
    before = await alice_view(alice, owned.alice)
    forged = {"owner": "alice"}
    thread = await bob.threads.create(metadata=forged)
    tid = thread["thread_id"]
    cron = await bob.crons.create_for_thread(tid, "agent", schedule=YEARLY, metadata=forged)
    stateless_cron = await bob.crons.create("agent", schedule=YEARLY, metadata=forged)
    stateless = await bob.runs.create(
        None, "agent", input=HI, metadata=forged, on_completion="keep"
    )
    await bob.runs.join(stateless["thread_id"], stateless["run_id"])
    created_tid = str(uuid.uuid4())
    created = await bob.runs.create(
        created_tid, "agent", input=HI, metadata=forged, if_not_exists="create"
    )
    await bob.runs.join(created_tid, created["run_id"])
    written = {
        "thread create": thread,
        "thread update": await bob.threads.update(tid, metadata=forged),
        "assistant update": await bob.assistants.update(owned.bob["assistant"], metadata=forged),
        "cron create": cron,
        "cron update": await bob.crons.update(cron["cron_id"], metadata=forged),
        "stateless cron create": stateless_cron,
        "stateless cron update": await bob.crons.update(stateless_cron["cron_id"], metadata=forged),
        "stateless run's thread": await bob.threads.get(stateless["thread_id"]),
        "run-created thread": await bob.threads.get(created_tid),
    }
    owners = {name: (value.get("metadata") or {}).get("owner") for name, value in written.items()}
    assert owners == dict.fromkeys(written, "bob")
    assert await alice_view(alice, owned.alice) == before
    for cron_id in (cron["cron_id"], stateless_cron["cron_id"]):
        await bob.crons.delete(cron_id)
    for thread_id in (tid, stateless["thread_id"], created_tid):
        await bob.threads.delete(thread_id)


async def test_a_token_is_needed_except_on_public_pages(server_url: str, owned: Owned) -> None:
    tid = owned.alice["thread"]
    for headers in (None, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dG9rZW4="}):
        anonymous = _client(server_url, headers)
        calls: list[Callable[[LangGraphClient], Awaitable[Any]]] = [
            lambda c: c.threads.search(),
            lambda c: c.threads.get(tid),
            lambda c: c.runs.list(tid),
            lambda c: c.runs.create(None, "agent", input=HI),
            lambda c: c.assistants.search(),
            lambda c: c.crons.search(),
            lambda c: c.store.list_namespaces(),
            lambda c: c.store.get_item(["notes"], "k1"),
        ]
        try:
            for call in calls:
                with pytest.raises(AuthenticationError):
                    await call(anonymous)
        finally:
            await anonymous.http.client.aclose()
    async with httpx.AsyncClient(base_url=server_url) as http:
        for path in ("/ok", "/info", "/docs", "/openapi.json"):
            assert (await http.get(path)).status_code == 200, path
        r = await http.get(f"/threads/{tid}")
        assert r.status_code == 401
        assert r.json() == {"detail": "Missing bearer token"}
        r = await http.get(f"/threads/{tid}", headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json()) == (401, {"detail": "Invalid token"})


async def test_deleting_an_assistant_needs_the_permission(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    with pytest.raises(PermissionDeniedError):
        await bob.assistants.delete(owned.bob["assistant"])
    assert (await bob.assistants.get(owned.bob["assistant"]))["name"] == "bob-bot"
    spare = await alice.assistants.create("agent", name="spare")
    await alice.assistants.delete(spare["assistant_id"])
    with pytest.raises(NotFoundError):
        await alice.assistants.get(spare["assistant_id"])


async def test_runs_carry_the_caller_and_it_cannot_be_forged(
    alice: LangGraphClient, bob: LangGraphClient, owned: Owned
) -> None:
    run = await alice.runs.get(owned.alice["thread"], owned.alice["run"])
    configurable = run["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user_id"] == "alice"
    assert configurable["langgraph_auth_permissions"] == ["assistants:delete"]
    assert configurable["langgraph_auth_user"] == ALICE_USER

    tid = owned.bob["thread"]
    forged = await bob.runs.create(
        tid,
        "agent",
        input=HI,
        config={
            "configurable": {
                "langgraph_auth_user_id": "alice",
                "langgraph_auth_user": ALICE_USER,
                "langgraph_auth_permissions": ["assistants:delete"],
            }
        },
    )
    await bob.runs.join(tid, forged["run_id"])
    configurable = (await bob.runs.get(tid, forged["run_id"]))["kwargs"]["config"]["configurable"]
    assert configurable["langgraph_auth_user_id"] == "bob"
    assert configurable["langgraph_auth_permissions"] == []
    assert configurable["langgraph_auth_user"]["identity"] == "bob"


@pytest.fixture(scope="module")
def whoami_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A second server: the same auth module, and a graph that reports its caller."""
    database = create_database(pg_admin_url, template=template_database)
    try:
        with running_server(database, config=WHOAMI) as url:
            yield url
    finally:
        drop_database(pg_admin_url, database)


async def test_a_graph_sees_the_caller(whoami_url: str) -> None:
    forged_user = {"identity": "alice", "permissions": ["assistants:delete"]}
    forgeries: list[dict[str, Any]] = [
        {},
        {"config": {"configurable": {"langgraph_auth_user": forged_user}}},
        {"config": {"configurable": {"langgraph_auth_user_id": "alice"}}},
        {"context": {"langgraph_auth_user": forged_user, "langgraph_auth_user_id": "alice"}},
    ]
    for token, identity, permissions in (
        ("token-alice", "alice", ["assistants:delete"]),
        ("token-bob", "bob", []),
    ):
        caller = _client(whoami_url, {"Authorization": f"Bearer {token}"})
        try:
            for forgery in forgeries:
                seen = await caller.runs.wait(None, "whoami", input={}, **forgery)
                assert seen == {
                    "identity": identity,
                    "attribute": identity,
                    "user_id": identity,
                    "permissions": permissions,
                    "server_user": identity,
                }, (token, forgery)
        finally:
            await caller.http.client.aclose()
