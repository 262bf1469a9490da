"""A run create checked once (``app.core.runs.RunRequest``): defaults, validation, kwargs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from app.core.access import ALL, Access, Caller
from app.core.errors import BadRequest, InvalidInput
from app.core.runs import CheckpointRef, RunCreate, RunRequest, started

THREAD = uuid.UUID("00000000-0000-7000-8000-000000000001")
ASSISTANT: dict[str, Any] = {
    "assistant_id": uuid.UUID("00000000-0000-4000-8000-000000000002"),
    "graph_id": "steps",
    "config": {"tags": ["a"], "configurable": {"tone": "dry", "x-team": "config"}},
    "context": {"lang": "en", "langgraph_auth_user": "forged"},
    "metadata": {},
}


def test_defaults_on_a_thread() -> None:
    request = RunRequest.of(RunCreate(assistant_id="steps"), THREAD, now=100.0)
    assert request.thread_id == THREAD
    assert not request.stateless
    assert (request.strategy, request.if_not_exists) == ("enqueue", "reject")
    assert request.queues
    assert not request.supersedes
    assert (request.delay, request.due) == (0.0, None)
    assert request.extra_metadata == {}
    assert request.run_id != request.thread_id


def test_a_stateless_run_enqueues_on_a_new_thread_whatever_the_body_says() -> None:
    body = RunCreate(assistant_id="steps", multitask_strategy="reject", if_not_exists="reject")
    request = RunRequest.of(body, None, waited=True)
    assert request.stateless
    assert (request.strategy, request.if_not_exists) == ("enqueue", "create")
    assert request.thread_id.version == 7
    assert request.waited


@pytest.mark.parametrize(
    ("strategy", "queues", "supersedes"),
    [
        ("reject", False, False),
        ("enqueue", True, False),
        ("interrupt", True, True),
        ("rollback", True, True),
    ],
)
def test_strategies(strategy: Any, queues: bool, supersedes: bool) -> None:
    request = RunRequest.of(RunCreate(assistant_id="steps", multitask_strategy=strategy), THREAD)
    assert request.strategy == strategy
    assert (request.queues, request.supersedes) == (queues, supersedes)


def test_a_delayed_run_is_due_after_its_delay() -> None:
    request = RunRequest.of(RunCreate(assistant_id="steps", after_seconds=2.5), THREAD, now=10.0)
    assert (request.delay, request.due) == (2.5, 12.5)


@pytest.mark.parametrize(
    ("body", "stateless", "error"),
    [
        (RunCreate(assistant_id="a", after_seconds=-1), False, InvalidInput),
        (RunCreate(assistant_id="a", stream_mode="nope"), False, InvalidInput),
        (RunCreate(assistant_id="a", command={"resume": 1}), True, BadRequest),
        (
            RunCreate(assistant_id="a", context={"a": 1}, config={"configurable": {"b": 2}}),
            False,
            BadRequest,
        ),
    ],
)
def test_what_cannot_be_honoured_is_refused(
    body: RunCreate, stateless: bool, error: type[Exception]
) -> None:
    with pytest.raises(error):
        RunRequest.of(body, None if stateless else THREAD)


def test_a_command_wins_over_the_input() -> None:
    """agent-chat-ui sends ``input: {}`` with its resume command (the reference runs the
    command)."""
    body = RunCreate(assistant_id="steps", input={"x": 1}, command={"resume": "yes"})
    kwargs = RunRequest.of(body, THREAD).kwargs(ASSISTANT, {})
    assert (kwargs["input"], kwargs["command"]) == (None, {"resume": "yes"})


def test_context_is_mirrored_into_configurable() -> None:
    body = RunCreate(assistant_id="steps", context={"model": "small", "tone": "dry"})
    assistant = {**ASSISTANT, "config": {"configurable": {"tone": "warm"}}}
    configurable = RunRequest.of(body, THREAD).kwargs(assistant, {})["config"]["configurable"]
    assert configurable["model"] == "small"
    assert configurable["tone"] == "warm"  # the config's own value wins


def test_kwargs_merge_the_assistant_the_request_and_the_caller() -> None:
    body = RunCreate(
        assistant_id="steps",
        config={"tags": ["b"], "configurable": {"tone": "warm"}},
        stream_mode=["updates", "values"],
        checkpoint=CheckpointRef(checkpoint_ns="", checkpoint_id=str(uuid.uuid4())),
    )
    request = RunRequest.of(body, THREAD)
    user = {"identity": "alice"}
    configurable = {"langgraph_auth_user": user, "x-team": "header", "x-new": "header"}
    kwargs = request.kwargs(ASSISTANT, configurable)
    config = kwargs["config"]
    assert config["tags"] == ["a", "b"]
    merged = config["configurable"]
    assert merged["tone"] == "warm"
    assert merged["langgraph_auth_user"] == user  # the caller's, always
    assert merged["x-team"] == "config"  # a header does not override the config
    assert merged["x-new"] == "header"
    assert merged["run_id"] == str(request.run_id)
    assert merged["thread_id"] == str(THREAD)
    assert merged["graph_id"] == "steps"
    assert merged["assistant_id"] == str(ASSISTANT["assistant_id"])
    assert merged["checkpoint_id"] == body.checkpoint.checkpoint_id  # type: ignore[union-attr]
    assert kwargs["context"] == {"lang": "en"}  # the server's keys are dropped
    assert kwargs["stream_mode"] == ["updates", "values"]
    assert (kwargs["temporary"], kwargs["on_completion"], kwargs["waited"]) == (False, None, False)
    assert kwargs["durability"] == "async"
    assert kwargs["checkpoint_during"] is True  # left out: true, as the reference stores it


def test_kwargs_of_a_stateless_run() -> None:
    body = RunCreate(assistant_id="steps", checkpoint_during=False, context={"lang": "fr"})
    request = RunRequest.of(body, None)
    kwargs = request.kwargs(ASSISTANT, {})
    assert kwargs["context"] == {"lang": "fr"}
    assert (kwargs["temporary"], kwargs["on_completion"]) == (True, "delete")
    assert kwargs["durability"] == "exit"
    assert kwargs["checkpoint_during"] is False
    assert kwargs["stream_mode"] == ["values"]


def test_a_checkpoint_id_must_be_a_uuid() -> None:
    request = RunRequest.of(RunCreate(assistant_id="steps", checkpoint_id="nope"), THREAD)
    with pytest.raises(InvalidInput):
        request.kwargs(ASSISTANT, {})


def test_the_first_stream_event() -> None:
    run_id = uuid.uuid4()
    assert started(run_id, 2) == {"run_id": str(run_id), "attempt": 2}


def test_access_and_caller() -> None:
    access = Access(({"owner": "alice"},), ({"team": "a"},))
    assert access.of_assistant() == Access(({"team": "a"},))
    assert Access() == ALL
    assert Caller() == Caller(user=None, stamp={}, configurable={})
