"""What langgraph.json's ``checkpointer``, ``store``, ``webhooks``, ``http`` and ``auth``
sections ask of a running server, parsed and checked once at start (``Policies.of``): a bad
value stops ``serve`` with a ConfigError naming the key. app/official_config.py says which
keys exist; this module gives the ones that work their meaning.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.graphs.config import ConfigError
from app.store.index import IndexConfig
from app.store.index import parse as parse_index

TTL_STRATEGIES = ("delete", "keep_latest")
ROUTE_GROUPS = ("assistants", "threads", "runs", "store", "meta", "ui", "mcp", "a2a")
"""What ``http.disable_<group>`` turns off (``ui`` is not served)."""
MIDDLEWARE_ORDERS = ("middleware_first", "auth_first")
_ENV_REFERENCE = re.compile(r"\$\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class ThreadTTL:
    """``checkpointer.ttl``: threads created without a ``ttl`` get ``default_minutes``."""

    strategy: str = "delete"
    default_minutes: float | None = None
    sweep_seconds: float | None = None
    """How often expired threads are swept (None: every worker tick)."""
    sweep_limit: int | None = None


@dataclass(frozen=True)
class StoreTTL:
    """``store.ttl``: items put without a ``ttl`` get ``default_minutes``; reads refresh
    their item's expiry unless asked not to (``refresh_on_read``)."""

    default_minutes: float | None = None
    refresh_on_read: bool = True
    sweep_seconds: float = 60.0


@dataclass(frozen=True)
class WebhookRules:
    """The ``webhooks`` section: which URLs a run may name, and the headers every webhook
    carries (``${{ env.VAR }}`` filled in at start, only from variables named with
    ``env_prefix`` when one is given)."""

    require_https: bool = False
    allowed_domains: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = ()
    max_url_length: int = 4096
    allow_loopback: bool | None = None
    """None: as the operator's TURNSTILE_WEBHOOK_ALLOW_PRIVATE (off by default)."""
    allow_private: bool | None = None
    headers: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    """``http.disable_webhooks``: no webhook is sent."""


@dataclass(frozen=True)
class HttpOptions:
    app: str | None = None
    """``http.app``: the user's ASGI app (``./file.py:var``)."""
    mount_prefix: str | None = None
    disabled: frozenset[str] = frozenset()
    auth_first: bool = False
    custom_route_auth: bool = False


@dataclass(frozen=True)
class AuthCache:
    keys: tuple[str, ...]
    ttl_seconds: float
    max_size: int


@dataclass(frozen=True)
class Policies:
    threads: ThreadTTL = ThreadTTL()
    store: StoreTTL = StoreTTL()
    webhooks: WebhookRules = WebhookRules()
    http: HttpOptions = HttpOptions()
    auth_openapi: dict[str, Any] | None = None
    auth_cache: AuthCache | None = None
    store_index: IndexConfig | None = None
    """``store.index``: semantic search of the store (app/store/index.py)."""

    @classmethod
    def of(cls, raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Policies:
        """The policies of a parsed langgraph.json (``env``: for ``MOUNT_PREFIX`` and the
        variables webhook headers name; the process environment by default)."""
        env = os.environ if env is None else env
        http = _section(raw, "http")
        auth = _section(raw, "auth")
        return cls(
            threads=_thread_ttl(_section(_section(raw, "checkpointer"), "ttl", "checkpointer.")),
            store=_store_ttl(_section(_section(raw, "store"), "ttl", "store.")),
            store_index=parse_index(_section(_section(raw, "store"), "index", "store.")),
            webhooks=_webhooks(
                _section(raw, "webhooks"), env, disabled=_flag(http, "http", "disable_webhooks")
            ),
            http=_http(http, env),
            auth_openapi=_section(auth, "openapi", "auth.") or None,
            auth_cache=_auth_cache(_section(auth, "cache", "auth.")),
        )


def _section(raw: Mapping[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{prefix}{key} must be an object")
    return value


def _flag(section: Mapping[str, Any], where: str, key: str, default: bool = False) -> bool:
    value = section.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be true or false")
    return value


def _minutes(section: Mapping[str, Any], where: str, key: str) -> float | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}.{key} must be a positive number of minutes")
    return float(value)


def _thread_ttl(ttl: Mapping[str, Any]) -> ThreadTTL:
    where = "checkpointer.ttl"
    strategy = ttl.get("strategy", "delete")
    if strategy not in TTL_STRATEGIES:
        raise ConfigError(f"{where}.strategy must be one of {', '.join(TTL_STRATEGIES)}")
    interval = _minutes(ttl, where, "sweep_interval_minutes")
    limit = ttl.get("sweep_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"{where}.sweep_limit must be a positive integer")
    return ThreadTTL(
        strategy=strategy,
        default_minutes=_minutes(ttl, where, "default_ttl"),
        sweep_seconds=None if interval is None else interval * 60,
        sweep_limit=limit,
    )


def _store_ttl(ttl: Mapping[str, Any]) -> StoreTTL:
    where = "store.ttl"
    interval = _minutes(ttl, where, "sweep_interval_minutes")
    return StoreTTL(
        default_minutes=_minutes(ttl, where, "default_ttl"),
        refresh_on_read=_flag(ttl, where, "refresh_on_read", True),
        sweep_seconds=60.0 if interval is None else interval * 60,
    )


def _strings(section: Mapping[str, Any], where: str, key: str) -> tuple[str, ...]:
    value = section.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}.{key} must be a list of strings")
    return tuple(value)


def _webhooks(
    section: Mapping[str, Any], env: Mapping[str, str], *, disabled: bool
) -> WebhookRules:
    url = _section(section, "url", "webhooks.")
    where = "webhooks.url"
    ports = url.get("allowed_ports") or []
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
    ):
        raise ConfigError(f"{where}.allowed_ports must be a list of port numbers")
    length = url.get("max_url_length", 4096)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigError(f"{where}.max_url_length must be a positive integer")
    prefix = section.get("env_prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise ConfigError("webhooks.env_prefix must be a string")
    headers = {}
    for name, value in _section(section, "headers", "webhooks.").items():
        if not isinstance(value, str):
            raise ConfigError(f"webhooks.headers.{name} must be a string")
        headers[name] = _fill(value, env, prefix, f"webhooks.headers.{name}")
    return WebhookRules(
        require_https=_flag(url, where, "require_https"),
        allowed_domains=tuple(d.strip().lower() for d in _strings(url, where, "allowed_domains")),
        allowed_ports=tuple(ports),
        max_url_length=length,
        allow_loopback=None
        if "disable_loopback" not in url
        else not _flag(url, where, "disable_loopback"),
        allow_private=None
        if "disable_private_ips" not in url
        else not _flag(url, where, "disable_private_ips"),
        headers=headers,
        disabled=disabled,
    )


def _fill(value: str, env: Mapping[str, str], prefix: str | None, where: str) -> str:
    """``value`` with each ``${{ env.NAME }}`` replaced by the variable (which must exist
    and, with an ``env_prefix``, start with it)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if prefix and not name.startswith(prefix):
            raise ConfigError(f"{where}: {name} does not start with webhooks.env_prefix {prefix!r}")
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return env[name]

    return _ENV_REFERENCE.sub(one, value)


def _http(http: Mapping[str, Any], env: Mapping[str, str]) -> HttpOptions:
    app = http.get("app")
    if app is not None and not isinstance(app, str):
        raise ConfigError("http.app must be a string like './app.py:app'")
    prefix = (
        env.get("MOUNT_PREFIX") or env.get("LANGGRAPH_MOUNT_PREFIX") or http.get("mount_prefix")
    )
    if prefix is not None:
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.strip("/") == "":
            raise ConfigError("http.mount_prefix must be a path like '/my-deployment/api'")
        prefix = prefix.rstrip("/")
        if prefix == "/noauth" or prefix.startswith("/noauth/"):
            raise ConfigError("http.mount_prefix: '/noauth' is reserved")
    order = http.get("middleware_order") or "middleware_first"
    if order not in MIDDLEWARE_ORDERS:
        raise ConfigError(f"http.middleware_order must be one of {', '.join(MIDDLEWARE_ORDERS)}")
    return HttpOptions(
        app=app,
        mount_prefix=prefix,
        disabled=frozenset(g for g in ROUTE_GROUPS if _flag(http, "http", f"disable_{g}")),
        auth_first=order == "auth_first",
        custom_route_auth=_flag(http, "http", "enable_custom_route_auth"),
    )


def _auth_cache(cache: Mapping[str, Any]) -> AuthCache | None:
    if not cache:
        return None
    where = "auth.cache"
    ttl = cache.get("ttl_seconds", 60)
    size = cache.get("max_size", 1000)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        raise ConfigError(f"{where}.ttl_seconds must be a positive number")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{where}.max_size must be a positive integer")
    keys = tuple(k.lower() for k in _strings(cache, where, "cache_keys"))
    if not keys:
        raise ConfigError(f"{where}.cache_keys must name the request headers results are keyed on")
    return AuthCache(keys, float(ttl), size)
