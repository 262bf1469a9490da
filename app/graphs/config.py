"""Reading ``langgraph.json`` (API.md §10): the parts the server consumes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

DEMO_GRAPHS = {"agent": "app.graphs.demo:graph"}


class GraphEntry(msgspec.Struct, frozen=True):
    graph_id: str
    spec: str
    """``./path/file.py:var`` (relative to the config file) or ``pkg.module:var``."""
    description: str | None = None


class GraphsConfig(msgspec.Struct, frozen=True):
    graphs: tuple[GraphEntry, ...]
    base_dir: str
    """Directory of langgraph.json; file paths are relative to it."""
    dependencies: tuple[str, ...] = ()
    env: dict[str, str] = {}
    raw: dict[str, Any] = {}


class ConfigError(Exception):
    """langgraph.json is missing, malformed or names something that cannot be loaded."""


def demo_config() -> GraphsConfig:
    return GraphsConfig(
        graphs=tuple(GraphEntry(gid, spec) for gid, spec in DEMO_GRAPHS.items()),
        base_dir=str(Path.cwd()),
    )


def load_config(path: str | None) -> GraphsConfig:
    """Parse langgraph.json at ``path``; None gives the bundled demo graph."""
    if path is None:
        return demo_config()
    file = Path(path).resolve()
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {file}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Config file {file} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("graphs"), dict) or not raw["graphs"]:
        raise ConfigError(f"{file}: 'graphs' must be a non-empty object")
    entries = []
    for graph_id, value in raw["graphs"].items():
        if isinstance(value, str):
            entries.append(GraphEntry(graph_id, value))
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            entries.append(GraphEntry(graph_id, value["path"], value.get("description")))
        else:
            raise ConfigError(
                f"{file}: graph {graph_id!r} must be a string or {{path, description}}"
            )
    base = file.parent
    env: dict[str, str] = {}
    raw_env = raw.get("env")
    if isinstance(raw_env, dict):
        env = {str(k): str(v) for k, v in raw_env.items()}
    elif isinstance(raw_env, str):
        env = _read_dotenv(base / raw_env)
    deps = tuple(d for d in raw.get("dependencies", []) if isinstance(d, str))
    return GraphsConfig(tuple(entries), str(base), deps, env, raw)


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        values[key] = value.strip().strip("'\"")
    return values


def apply_environment(config: GraphsConfig) -> None:
    """Load ``env`` into the process environment (not overriding what is set) and put
    local ``dependencies`` paths on ``sys.path`` so graphs import their sibling modules."""
    for key, value in config.env.items():
        os.environ.setdefault(key, value)
    base = Path(config.base_dir)
    for dep in config.dependencies:
        if dep.startswith((".", "/")):
            path = str((base / dep).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)
    if config.base_dir not in sys.path:
        sys.path.insert(0, config.base_dir)
