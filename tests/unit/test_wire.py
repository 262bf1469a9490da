"""The response shapes (app.core.wire): each is in /openapi.json, and each conversion gives
the JSON the API has always served."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec

from app.api import openapi
from app.core import wire
from app.core.jsonable import dumps, loads
from app.graphs.config import load_config
from app.graphs.registry import GraphRegistry
from app.main import create_app
from app.services.state import EMPTY_STATE
from app.settings import Settings

AT = datetime.datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=datetime.UTC)
AT_WIRE = "2025-03-04T05:06:07.000089+00:00"
RUN_ID, THREAD_ID, ASSISTANT_ID = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def served(value: Any) -> Any:
    return loads(dumps(value))


def test_every_response_struct_is_a_component_of_the_document() -> None:
    app = create_app(
        Settings(database_url="postgresql://unused@127.0.0.1/unused"),
        GraphRegistry.load(load_config(None)),
    )
    components = openapi.build(app)["components"]["schemas"]
    for struct in wire.RESPONSES:
        assert struct.__name__ in components, struct
    # ... generated from the served Structs, not described a second time
    (_,), own = msgspec.json.schema_components([wire.Run])
    assert components["Run"] == own["Run"]
    for shape in openapi.RESPONSES.values():
        if isinstance(shape, type) and issubclass(shape, msgspec.Struct):
            assert shape in wire.RESPONSES


def _run_record(status: str) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "thread_id": THREAD_ID,
        "assistant_id": ASSISTANT_ID,
        "status": status,
        "multitask_strategy": "enqueue",
        "metadata": {"k": 1},
        "kwargs": {"input": None},
        "created_at": AT,
        "updated_at": AT,
        # columns that are not fields: a search's count, the insert's own, the output
        "_total": 3,
        "marked": 1,
        "output": {"x": 1},
    }


def test_a_run_record_as_served_with_queued_shown_as_pending() -> None:
    assert served(wire.run(_run_record("queued"))) == {
        "run_id": str(RUN_ID),
        "thread_id": str(THREAD_ID),
        "assistant_id": str(ASSISTANT_ID),
        "status": "pending",
        "multitask_strategy": "enqueue",
        "metadata": {"k": 1},
        "kwargs": {"input": None},
        "created_at": AT_WIRE,
        "updated_at": AT_WIRE,
        "langsmith_session_name": None,
    }
    assert served(wire.run(_run_record("running")))["status"] == "running"
    # a list's select: only the fields asked (names that are not fields are ignored)
    only = wire.run(_run_record("queued"), only=["run_id", "status", "cancel_reason"])
    assert dumps(only) == f'{{"run_id":"{RUN_ID}","status":"pending"}}'.encode()
    assert wire.run(_run_record("queued")).ids() == (THREAD_ID, RUN_ID)


def test_a_thread_record_whole_and_selected() -> None:
    record = {
        "thread_id": THREAD_ID,
        "created_at": AT,
        "updated_at": AT,
        "state_updated_at": AT,
        "metadata": {},
        "status": "idle",
        "config": {},
        "values": None,
        "interrupts": {},
        "error": None,
        "_total": 1,
    }
    body = dumps(wire.thread(record))
    assert (
        body
        == (
            f'{{"thread_id":"{THREAD_ID}","created_at":"{AT_WIRE}","updated_at":"{AT_WIRE}",'
            f'"state_updated_at":"{AT_WIRE}","metadata":{{}},"status":"idle","config":{{}},'
            '"values":null,"interrupts":{},"error":null}'
        ).encode()
    )
    # a search's select reads some columns: the others are absent, not null
    assert served(wire.thread({"thread_id": THREAD_ID, "values": None})) == {
        "thread_id": str(THREAD_ID),
        "values": None,
    }
    ttl = {"ttl_strategy": "delete", "ttl_minutes": 60.0, "expires_at": None}
    assert served(wire.thread_ttl(ttl)) == {
        "strategy": "delete",
        "ttl_minutes": 60.0,
        "expires_at": None,
    }


def test_an_assistant_record_and_a_version() -> None:
    record = {
        "assistant_id": ASSISTANT_ID,
        "graph_id": "agent",
        "config": {},
        "context": {},
        "metadata": {},
        "name": "n",
        "description": None,
        "version": 2,
        "created_at": AT,
        "updated_at": AT,
    }
    assert list(served(wire.assistant(record))) == list(record)
    assert served(wire.assistant(record))["description"] is None
    version = {k: v for k, v in record.items() if k != "updated_at"}
    assert served(wire.assistant_version(version))["created_at"] == AT_WIRE


def test_a_cron_record_shows_its_creator_as_user_id() -> None:
    record = {
        "cron_id": uuid.uuid4(),
        "assistant_id": ASSISTANT_ID,
        "thread_id": None,
        "schedule": "* * * * *",
        "timezone": None,
        "payload": {},
        "metadata": {},
        "enabled": True,
        "end_time": None,
        "next_run_date": AT,
        "on_run_completed": "delete",
        "created_at": AT,
        "updated_at": AT,
        "auth_user": {"identity": "ann", "permissions": []},
    }
    out = served(wire.cron(record))
    assert "auth_user" not in out
    assert out["user_id"] == "ann"
    assert out["end_time"] is None
    assert out["next_run_date"] == AT_WIRE
    assert served(wire.cron({**record, "auth_user": None}))["user_id"] is None
    assert served(wire.cron(record, only=["schedule", "user_id"])) == {
        "schedule": "* * * * *",
        "user_id": "ann",
    }


def test_store_items() -> None:
    record = {"prefix": "a.b", "key": "k", "value": {"v": 1}, "created_at": AT, "updated_at": AT}
    item = {
        "namespace": ["a", "b"],
        "key": "k",
        "value": {"v": 1},
        "created_at": AT_WIRE,
        "updated_at": AT_WIRE,
    }
    assert served(wire.item(record)) == item
    assert served(wire.item(record, wire.SearchItem)) == {**item, "score": None}


def test_the_empty_state_has_the_thread_state_fields() -> None:
    assert list(EMPTY_STATE) == list(wire.ThreadState.__struct_fields__)
