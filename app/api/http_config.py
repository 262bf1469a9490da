"""The ``http`` section of langgraph.json (API.md §1, §10): CORS and the request headers a
run receives in ``config.configurable`` (``configurable_headers``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litestar.config.cors import CORSConfig

from app.graphs.config import ConfigError

EXPOSED_HEADERS = ["x-pagination-total", "x-pagination-next", "content-location", "location"]
"""Always exposed to browsers: the pagination and run-location headers clients read."""

DEFAULT_HEADER_INCLUDES = ("x-*", "user-agent")
DEFAULT_HEADER_EXCLUDES = ("x-api-key", "authorization", "cookie", "x-service-key")
CORS_KEYS = {
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "allow_origin_regex",
    "expose_headers",
    "max_age",
}


@dataclass(frozen=True)
class HeaderPolicy:
    """Which request headers go into a run's ``config.configurable``: those matching an
    ``includes`` pattern and no ``excludes`` pattern (``*`` is the only wildcard)."""

    includes: tuple[str, ...] = DEFAULT_HEADER_INCLUDES
    excludes: tuple[str, ...] = DEFAULT_HEADER_EXCLUDES
    _include: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _exclude: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once: every run create picks its headers.
        object.__setattr__(self, "_include", _pattern(self.includes))
        object.__setattr__(self, "_exclude", _pattern(self.excludes))

    def pick(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            name: value
            for name, value in headers.items()
            if self._include.fullmatch(name.lower()) and not self._exclude.fullmatch(name.lower())
        }


def _pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any of ``patterns`` (``*``: any characters; nothing else special)."""
    alternatives = [".*".join(re.escape(part) for part in p.lower().split("*")) for p in patterns]
    return re.compile("|".join(f"(?:{a})" for a in alternatives) if alternatives else "(?!)")


def cors_config(raw_http: Mapping[str, Any], env: Mapping[str, str]) -> CORSConfig:
    """``http.cors`` (or env ``CORS_ALLOW_ORIGINS``, comma-separated), defaulting to
    everything allowed; the pagination and location headers are always exposed."""
    cors = raw_http.get("cors") or {}
    if not isinstance(cors, dict):
        raise ConfigError("http.cors must be an object")
    unknown = set(cors) - CORS_KEYS
    if unknown:
        raise ConfigError(f"http.cors: unknown keys {sorted(unknown)}")
    origins = cors.get("allow_origins")
    if origins is None and env.get("CORS_ALLOW_ORIGINS"):
        origins = [o.strip() for o in env["CORS_ALLOW_ORIGINS"].split(",") if o.strip()]
    expose = [*EXPOSED_HEADERS, *(h.lower() for h in cors.get("expose_headers") or [])]
    return CORSConfig(
        allow_origins=list(origins or ["*"]),
        allow_methods=list(cors.get("allow_methods") or ["*"]),
        allow_headers=list(cors.get("allow_headers") or ["*"]),
        allow_credentials=bool(cors.get("allow_credentials", False)),
        allow_origin_regex=cors.get("allow_origin_regex"),
        expose_headers=list(dict.fromkeys(expose)),
        max_age=int(cors.get("max_age", 600)),
    )


def header_policy(raw_http: Mapping[str, Any]) -> HeaderPolicy:
    section = raw_http.get("configurable_headers")
    if section is None:
        return HeaderPolicy()
    if not isinstance(section, dict):
        raise ConfigError("http.configurable_headers must be an object")
    includes = section.get("includes", section.get("include"))
    excludes = section.get("excludes", section.get("exclude"))
    return HeaderPolicy(
        tuple(includes) if includes is not None else DEFAULT_HEADER_INCLUDES,
        tuple(excludes) if excludes is not None else DEFAULT_HEADER_EXCLUDES,
    )
