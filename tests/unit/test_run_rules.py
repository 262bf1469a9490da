"""The pure rules of a run, without a database: its config over the assistant's, its
durability, its stream modes, what a create refuses, and the LangGraph ``Command`` built
from a run's ``command``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.types import Command, Send

from app.core.errors import BadRequest, InvalidInput
from app.core.runs import RunCreate, durability, merge_config, stream_modes, validate
from app.db.events import Event
from app.services.streams import run_mode_filter, wanted_by_thread
from app.worker.arguments import command as _command


def body(**fields: Any) -> RunCreate:
    return RunCreate(assistant_id="agent", **fields)


def test_run_config_over_assistant_config() -> None:
    base = {
        "tags": ["a", "b"],
        "recursion_limit": 10,
        "configurable": {"model": "small", "temperature": 0},
    }
    override = {
        "tags": ["b", "c"],
        "recursion_limit": 50,
        "configurable": {
            "model": "large",
            "langgraph_auth_user": "forged",  # reserved: the server sets it
            "__langsmith_trace": "x",
            "__otel_span": "y",
            "__after_seconds__": 5,
        },
    }
    assert merge_config(base, override) == {
        "tags": ["a", "b", "c"],  # added, in order, once each
        "recursion_limit": 50,  # replaced
        "configurable": {"model": "large", "temperature": 0},  # merged, reserved keys dropped
    }
    assert base["configurable"] == {"model": "small", "temperature": 0}  # not mutated


def test_config_merge_without_an_override_or_tags() -> None:
    assert merge_config({}, None) == {"configurable": {}}
    assert merge_config({"metadata": {"x": 1}}, {}) == {"metadata": {"x": 1}, "configurable": {}}
    assert merge_config({}, {"tags": ["t"]}) == {"tags": ["t"], "configurable": {}}


def test_durability_defaults_to_async_and_checkpoint_during_false_means_exit() -> None:
    assert durability(body()) == "async"
    assert durability(body(checkpoint_during=True)) == "async"
    assert durability(body(checkpoint_during=False)) == "exit"
    for mode in ("sync", "async", "exit"):
        assert durability(body(durability=mode, checkpoint_during=False)) == mode


def test_stream_modes_default_to_values() -> None:
    assert stream_modes(body()) == ["values"]
    assert stream_modes(body(stream_mode="updates")) == ["updates"]
    assert stream_modes(body(stream_mode=["values", "messages-tuple"])) == [
        "values",
        "messages-tuple",
    ]


def test_what_a_create_refuses() -> None:
    validate(body(stream_mode=["values", "custom"], after_seconds=0), stateless=False)
    with pytest.raises(InvalidInput, match="Invalid stream_mode: 'nope'"):
        validate(body(stream_mode=["values", "nope"]), stateless=False)
    with pytest.raises(InvalidInput, match="after_seconds"):
        validate(body(after_seconds=-1), stateless=False)
    with pytest.raises(InvalidInput, match="after_seconds"):
        validate(body(after_seconds=367 * 86400), stateless=False)
    with pytest.raises(BadRequest, match="both configurable and context"):
        validate(body(context={"a": 1}, config={"configurable": {"b": 2}}), stateless=False)
    validate(body(context={"a": 1}, config={"tags": ["t"]}), stateless=False)
    with pytest.raises(BadRequest, match="thread_id when resuming"):
        validate(body(command={"resume": 1}), stateless=True)
    validate(body(command={"resume": 1}), stateless=False)
    # agent-chat-ui sends ``input: {}`` with its resume command: the command wins.
    validate(body(input={}, command={"goto": "a"}), stateless=False)


def test_join_filter_from_query_values() -> None:
    assert run_mode_filter([]) is None
    assert run_mode_filter(["", ""]) is None
    assert run_mode_filter(["values", "", "updates"]) == frozenset({"values", "updates"})


def test_thread_stream_sends_run_events_and_state_updates_by_mode() -> None:
    run_event = Event(1, 0, uuid.uuid4(), "values", "{}")
    start = run_event._replace(event="metadata")
    state_update = Event(2, 0, None, "state_update", "{}")
    assert wanted_by_thread(run_event, frozenset({"run_modes"}))
    assert not wanted_by_thread(run_event, frozenset({"lifecycle"}))
    assert wanted_by_thread(start, frozenset({"lifecycle"}))
    assert not wanted_by_thread(start, frozenset({"state_update"}))
    assert wanted_by_thread(state_update, frozenset({"state_update"}))
    assert not wanted_by_thread(state_update, frozenset({"run_modes"}))


def test_command_from_a_runs_command() -> None:
    assert _command({"resume": None}) == Command(resume=None)  # a null resume still resumes
    assert _command({}) == Command()
    assert _command({"update": {"a": 1}, "goto": "node"}) == Command(update={"a": 1}, goto="node")
    assert _command({"update": [["a", 1], ["b", 2]]}) == Command(update=[("a", 1), ("b", 2)])
    assert _command({"goto": {"node": "n", "input": {"x": 1}}}) == Command(goto=Send("n", {"x": 1}))
    assert _command({"goto": ["a", {"node": "n"}], "update": None}) == Command(
        goto=["a", Send("n", None)]
    )
