"""langgraph.json loading: file and module specs, StateGraph, factories, env, dependencies."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.core.errors import NotFound
from app.graphs.config import ConfigError, apply_environment, load_config
from app.graphs.registry import GraphRegistry

GRAPH_MODULE = """
from typing_extensions import TypedDict
from langgraph.graph import StateGraph, START
from helper import suffix  # a sibling module, importable through "dependencies"

class S(TypedDict):
    text: str

def node(state: S) -> dict:
    return {"text": state["text"] + suffix()}

builder = StateGraph(S)
builder.add_node("node", node)
builder.add_edge(START, "node")
uncompiled = builder
compiled = builder.compile(name="Named")

def factory(config):
    assert "configurable" in config
    return builder.compile()

async def async_factory():
    return builder.compile()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "graphs.py").write_text(GRAPH_MODULE)
    (tmp_path / "src" / "helper.py").write_text(
        "import os\n\ndef suffix():\n    return os.environ['TURNSTILE_TEST_SUFFIX']\n"
    )
    config = {
        "dependencies": ["./src"],
        "env": {"TURNSTILE_TEST_SUFFIX": "!"},
        "graphs": {
            "plain": "./src/graphs.py:uncompiled",
            "named": {"path": "./src/graphs.py:compiled", "description": "a named graph"},
            "made": "./src/graphs.py:factory",
            "made_async": "./src/graphs.py:async_factory",
        },
    }
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    return tmp_path / "langgraph.json"


async def test_every_kind_of_graph_variable_loads_and_runs(project: Path) -> None:
    config = load_config(str(project))
    apply_environment(config)
    try:
        registry = GraphRegistry.load(config)
        assert registry.ids == ["plain", "named", "made", "made_async"]
        assert registry.entry("named").name == "Named"
        assert registry.entry("named").description == "a named graph"
        assert registry.entry("plain").name == "plain"
        for graph_id in registry.ids:
            graph = await registry.get(graph_id, config={"configurable": {}})
            assert (await graph.ainvoke({"text": "hi"}))["text"] == "hi!"
        with pytest.raises(NotFound):
            registry.entry("missing")
    finally:
        os.environ.pop("TURNSTILE_TEST_SUFFIX", None)


def test_bad_configs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "bad.json"))
    (tmp_path / "empty.json").write_text('{"graphs": {}}')
    with pytest.raises(ConfigError):
        load_config(str(tmp_path / "empty.json"))
    (tmp_path / "missing.json").write_text('{"graphs": {"g": "./none.py:graph"}}')
    with pytest.raises(ConfigError):
        GraphRegistry.load(load_config(str(tmp_path / "missing.json")))


def test_no_config_gives_the_demo_agent() -> None:
    registry = GraphRegistry.load(load_config(None))
    assert registry.ids == ["agent"]
