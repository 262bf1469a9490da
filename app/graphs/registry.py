"""The graph registry: imports the graphs named in langgraph.json and hands out runnable
copies bound to our checkpointer and store.

A graph variable may be a compiled graph (Pregel), an uncompiled StateGraph (compiled here),
or a factory callable taking the run config (called per use; sync or async).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from app.core.errors import NotFound
from app.graphs.config import ConfigError, GraphEntry, GraphsConfig

AnyGraph = Pregel[Any, Any, Any, Any]


@dataclass(frozen=True)
class LoadedGraph:
    graph_id: str
    description: str | None
    graph: AnyGraph | None
    """The compiled graph, or None when the variable is a factory."""
    factory: Callable[..., Any] | None

    @property
    def name(self) -> str:
        """Assistant name: the graph's own name when it set one, else the graph id."""
        if self.graph is not None and self.graph.name and self.graph.name != "LangGraph":
            return self.graph.name
        return self.graph_id


def import_variable(spec: str, base_dir: str, what: str) -> Any:
    """The variable ``spec`` names: ``./path/file.py:var`` (relative to ``base_dir``) or
    ``pkg.module:var``. ``what`` names it in errors (``Graph 'agent'``, ``Auth``)."""
    target, sep, var = spec.rpartition(":")
    if not sep or not target or not var:
        raise ConfigError(f"{what}: {spec!r} must look like 'path.py:var'")
    if "/" in target or target.endswith(".py"):
        path = (Path(base_dir) / target).resolve()
        if not path.is_file():
            raise ConfigError(f"{what}: file not found: {path}")
        mod_name = f"turnstile_{path.stem}_{abs(hash(str(path)))}"
        module = sys.modules.get(mod_name)
        if module is None:
            file_spec = importlib.util.spec_from_file_location(mod_name, path)
            if file_spec is None or file_spec.loader is None:
                raise ConfigError(f"{what}: cannot import {path}")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[mod_name] = module
            file_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    try:
        return getattr(module, var)
    except AttributeError:
        raise ConfigError(f"{what}: {target} has no variable {var!r}") from None


def _load(entry: GraphEntry, base_dir: str) -> LoadedGraph:
    obj = import_variable(entry.spec, base_dir, f"Graph {entry.graph_id!r}")
    if isinstance(obj, StateGraph):
        obj = obj.compile()
    if isinstance(obj, Pregel):
        return LoadedGraph(entry.graph_id, entry.description, obj, None)
    if callable(obj):
        return LoadedGraph(entry.graph_id, entry.description, None, obj)
    raise ConfigError(
        f"Graph {entry.graph_id!r}: {entry.spec} is neither a graph nor a factory ({type(obj)})"
    )


class GraphRegistry:
    """Graphs by id, loaded once at start."""

    def __init__(self, graphs: dict[str, LoadedGraph], base_dir: str = ".") -> None:
        self._graphs = graphs
        self.base_dir = base_dir
        """Where langgraph.json is: the paths it names are relative to it."""

    @classmethod
    def load(cls, config: GraphsConfig) -> GraphRegistry:
        graphs = {e.graph_id: _load(e, config.base_dir) for e in config.graphs}
        return cls(graphs, config.base_dir)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self._graphs

    @property
    def ids(self) -> list[str]:
        return list(self._graphs)

    def entries(self) -> list[LoadedGraph]:
        return list(self._graphs.values())

    def entry(self, graph_id: str) -> LoadedGraph:
        try:
            return self._graphs[graph_id]
        except KeyError:
            raise NotFound(f"Graph '{graph_id}' not found. Expected one of: {self.ids}") from None

    async def get(
        self,
        graph_id: str,
        *,
        config: RunnableConfig | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        store: Any = None,
    ) -> AnyGraph:
        """A graph ready to run: a copy bound to ``checkpointer`` and ``store``."""
        entry = self.entry(graph_id)
        graph = entry.graph
        if graph is None:
            assert entry.factory is not None
            made = _call_factory(entry.factory, config or {})
            if inspect.isawaitable(made):
                made = await made
            if isinstance(made, StateGraph):
                made = made.compile()
            if not isinstance(made, Pregel):
                raise ConfigError(f"Graph factory {graph_id!r} returned {type(made)}")
            graph = made
        update: dict[str, Any] = {"checkpointer": checkpointer}
        if store is not None:
            update["store"] = store
        return graph.copy(update=update)


def _call_factory(factory: Callable[..., Any], config: RunnableConfig) -> Any:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    return factory(config) if params else factory()
