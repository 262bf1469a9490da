"""Each request, observed: its id bound to every log line it causes, its span (when
traces are on), its count and latency by route template (``lg_api_http_requests_*``), and
one access log line (``turnstile.access``) with the request headers ``http.logging_headers``
names.

A Litestar middleware, so it runs once the route is known (``scope["path_template"]``) and
sees the status the exception handlers chose; a path no route matches is not counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.api.http_config import HeaderPolicy
from app.api.middleware import request_id
from app.graphs.config import ConfigError
from app.observability import context, metrics, tracing

access_log = logging.getLogger("turnstile.access")

NEVER_LOGGED = ("authorization", "cookie", "set-cookie", "x-api-key", "x-service-key")
"""Headers no ``logging_headers`` pattern brings into a log line (credentials)."""

QUIET_ROUTES = frozenset({"/ok", "/metrics"})
"""Probes and scrapes: their access lines are logged at debug level only."""


def logging_headers(raw_http: Mapping[str, Any]) -> HeaderPolicy | None:
    """``http.logging_headers`` (``includes``/``excludes``, ``*`` wildcards, as
    ``configurable_headers``): which request headers an access line shows. None (the
    default, as the official server): no header is logged."""
    section = raw_http.get("logging_headers")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError("http.logging_headers must be an object")
    includes = section.get("includes", section.get("include")) or ()
    excludes = section.get("excludes", section.get("exclude")) or ()
    if not includes:
        return None
    return HeaderPolicy(tuple(includes), (*excludes, *NEVER_LOGGED))


class Observed:
    """Times, counts and logs every HTTP request; binds its request id for its log lines."""

    def __init__(self, app: ASGIApp, headers: HeaderPolicy | None = None) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what a response that never started counts as
        method = scope.get("method", "")
        template = scope.get("path_template") or ""

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with context.bound(request_id=request_id(scope)):
            try:
                with tracing.request_span(method, template, scope.get("headers") or ()) as span:
                    await self.app(scope, receive, sending)
                    tracing.set_status(span, status)
            finally:
                seconds = time.perf_counter() - began
                metrics.http_request(method, template, status, seconds)
                self._log(scope, method, template, status, seconds)

    def _log(self, scope: Scope, method: str, template: str, status: int, seconds: float) -> None:
        level = logging.DEBUG if template in QUIET_ROUTES else logging.INFO
        if status >= 500:
            level = logging.ERROR
        if not access_log.isEnabledFor(level):
            return
        path = scope.get("path", "")
        millis = round(seconds * 1000, 1)
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "route": template,
            "status": status,
            "latency_ms": millis,
        }
        if self.headers is not None:
            raw = scope.get("headers") or ()
            fields["req_header"] = self.headers.pick(
                {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
            )
        access_log.log(
            level, "%s %s %s %sms", method, path, status, millis, extra={"fields": fields}
        )
