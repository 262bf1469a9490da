"""The user's ``langgraph_sdk.Auth`` instance: loading it, calling its authenticate handler
with the request pieces it names, and finding and calling its authorization handlers."""

from __future__ import annotations

import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from langgraph_sdk import Auth
from langgraph_sdk.auth.exceptions import HTTPException
from langgraph_sdk.auth.types import AuthContext

from app.auth.user import AuthUser, to_user
from app.graphs.config import ConfigError, GraphsConfig
from app.graphs.registry import import_variable
from app.policies import AuthCache

log = logging.getLogger("turnstile.auth")

REQUEST_PIECES = (
    "request",
    "scope",
    "authorization",
    "headers",
    "path",
    "method",
    "query_params",
    "path_params",
)


def load_auth(config: GraphsConfig) -> Auth | None:
    """The ``Auth`` named by ``auth.path`` in langgraph.json (None when there is none)."""
    section = config.raw.get("auth")
    if not isinstance(section, dict) or not section.get("path"):
        return None
    spec = section["path"]
    if not isinstance(spec, str):
        raise ConfigError("auth.path must be a string like './auth.py:auth'")
    auth = import_variable(spec, config.base_dir, "Auth")
    if not isinstance(auth, Auth):
        raise ConfigError(f"auth.path {spec!r} is not a langgraph_sdk.Auth instance")
    return auth


class Authorizer:
    """Runs one ``Auth``'s handlers for the access door (``app.auth.door``)."""

    def __init__(self, auth: Auth, cache: AuthCache | None = None) -> None:
        self.auth = auth
        self.cache = cache
        """``auth.cache``: successful authentications reused, keyed on those headers."""
        self._cached: OrderedDict[tuple[str | None, ...], tuple[float, AuthUser | None]] = (
            OrderedDict()
        )
        handler = auth._authenticate_handler
        self.authenticator = handler
        self.wants = (
            {p for p in inspect.signature(handler).parameters if p in REQUEST_PIECES}
            if handler is not None
            else set()
        )

    async def authenticate(
        self, pieces: Mapping[str, Any], headers: Mapping[bytes, bytes] | None = None
    ) -> AuthUser | None:
        """The caller (None when the Auth has no authenticate handler), given the request
        ``pieces`` named in ``wants`` (and its ``headers``, for the cache). Raises the
        handler's ``HTTPException``; a failed ``assert`` in the handler answers 401."""
        if self.authenticator is None:
            return None
        key = None
        if self.cache is not None and headers is not None:
            key = tuple(
                None if (v := headers.get(name.encode("latin-1"))) is None else v.decode("latin-1")
                for name in self.cache.keys
            )
            hit = self._cached.get(key)
            if hit is not None and hit[0] > time.monotonic():
                self._cached.move_to_end(key)
                return hit[1]
        try:
            result = await self.authenticator(**pieces)
        except HTTPException:
            raise
        except AssertionError as exc:
            raise HTTPException(401, str(exc) or "Unauthorized") from None
        user = to_user(result)
        if key is not None and self.cache is not None:
            self._cached[key] = (time.monotonic() + self.cache.ttl_seconds, user)
            self._cached.move_to_end(key)
            while len(self._cached) > self.cache.max_size:
                self._cached.popitem(last=False)
        return user

    def handler(self, resource: str, action: str) -> Any:
        """The most specific handler: (resource, action), (resource, *), (*, action), global."""
        handlers = self.auth._handlers
        for key in ((resource, action), (resource, "*"), ("*", action)):
            if key in handlers:
                return handlers[key][-1]
        return self.auth._global_handlers[-1] if self.auth._global_handlers else None

    async def authorize(
        self, user: AuthUser | None, resource: str, action: str, value: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run the handler on ``value`` (which it may change). Returns its filter dict, or
        None to allow; raises ``HTTPException(403)`` when it returns False or asserts."""
        fn = self.handler(resource, action)
        if fn is None:
            return None
        ctx = AuthContext(
            permissions=list(user.permissions) if user else [],
            user=user,  # type: ignore[arg-type]
            resource=resource,  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
        )
        try:
            result = await fn(ctx=ctx, value=value)
        except AssertionError as exc:
            raise HTTPException(403, str(exc) or "Forbidden") from None
        if result is None or result is True:
            return None
        if result is False:
            raise HTTPException(403, "Forbidden")
        if isinstance(result, dict):
            return result
        log.error("Auth handler %r returned %r", getattr(fn, "__name__", fn), result)
        raise HTTPException(500, "Auth handler returned an invalid result")
