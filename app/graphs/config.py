"""Reading ``langgraph.json`` (API.md §10): the parts the server consumes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
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


ENV_SECTIONS = {
    "LANGGRAPH_STORE": "store",
    "LANGGRAPH_AUTH": "auth",
    "LANGGRAPH_HTTP": "http",
    "LANGGRAPH_CHECKPOINTER": "checkpointer",
    "LANGGRAPH_WEBHOOKS": "webhooks",
    "LANGGRAPH_ENCRYPTION": "encryption",
    "LANGGRAPH_PRIORITY": "priority",
    "LANGGRAPH_UI": "ui",
    "LANGGRAPH_UI_CONFIG": "ui_config",
}
"""The official server's environment variables that carry a langgraph.json section as
JSON (its CLI passes the file that way); used where the file has no such section."""


def load_config(path: str | None, env: Mapping[str, str] | None = None) -> GraphsConfig:
    """Parse langgraph.json at ``path``, with the sections ``env`` carries as JSON (the
    process environment by default); no file: the graphs of ``LANGSERVE_GRAPHS``, else the
    bundled demo graph."""
    env = os.environ if env is None else env
    if path is None:
        graphs = _env_json(env, "LANGSERVE_GRAPHS")
        raw: Any = {"graphs": graphs} if graphs is not None else {"graphs": DEMO_GRAPHS}
        file = Path.cwd() / "langgraph.json"
        where = "LANGSERVE_GRAPHS" if graphs is not None else "the demo config"
    else:
        file = Path(path).resolve()
        where = str(file)
        try:
            raw = json.loads(file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"Config file not found: {file}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"Config file {file} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("graphs"), dict) or not raw["graphs"]:
        raise ConfigError(f"{where}: 'graphs' must be a non-empty object")
    for name, key in ENV_SECTIONS.items():
        section = _env_json(env, name)
        if section is None:
            continue
        if key in raw and raw[key] != section:
            raise ConfigError(f"{name} and the {key!r} key of {where} differ: keep one")
        raw[key] = section
    ttl = env.get("LANGGRAPH_THREAD_TTL", "").strip()
    if ttl:
        checkpointer = raw.setdefault("checkpointer", {})
        if not isinstance(checkpointer, dict):
            raise ConfigError("checkpointer must be an object")
        checkpointer["ttl"] = (
            _env_json(env, "LANGGRAPH_THREAD_TTL")
            if ttl.startswith("{")
            else {
                "strategy": "delete",
                "default_ttl": _number(ttl, "LANGGRAPH_THREAD_TTL"),
            }
        )
    entries = []
    for graph_id, value in raw["graphs"].items():
        if isinstance(value, str):
            entries.append(GraphEntry(graph_id, value))
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            entries.append(GraphEntry(graph_id, value["path"], value.get("description")))
        else:
            raise ConfigError(
                f"{where}: graph {graph_id!r} must be a string or {{path, description}}"
            )
    base = file.parent
    env_values: dict[str, str] = {}
    raw_env = raw.get("env")
    if isinstance(raw_env, dict):
        env_values = {str(k): str(v) for k, v in raw_env.items()}
    elif isinstance(raw_env, str):
        env_values = _read_dotenv(base / raw_env)
    deps = tuple(d for d in raw.get("dependencies", []) if isinstance(d, str))
    return GraphsConfig(tuple(entries), str(base), deps, env_values, raw)


def _env_json(env: Mapping[str, str], name: str) -> Any:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number of minutes or a JSON object") from None


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
