"""The one place where errors become HTTP responses (DESIGN I8): ``{"detail": "..."}``."""

from __future__ import annotations

import logging
from typing import Any

from langgraph_sdk.auth.exceptions import HTTPException as AuthHTTPException
from litestar import Request, Response
from litestar.exceptions import HTTPException

from app.api.body import json
from app.core.errors import (
    BadRequest,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    NotSupported,
)
from app.observability import metrics
from app.services.faults import domain_error as stands_for
from app.services.faults import is_transient

log = logging.getLogger("turnstile.api")

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    BadRequest: 400,
    NotSupported: 501,
}


def domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            if cls is Conflict:
                metrics.conflict(type(exc).__name__)
            return json({"detail": exc.detail}, status_code=STATUS_BY_ERROR[cls])
    return json({"detail": exc.detail}, status_code=400)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status == 400 and "JSON" in str(exc.detail):
        status = 422
    return json({"detail": exc.detail}, status_code=status, headers=exc.headers)


def auth_error(_: Request[Any, Any, Any], exc: AuthHTTPException) -> Response[bytes]:
    """An auth handler's refusal (403 from ``False``) or its own ``HTTPException``."""
    return json(
        {"detail": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers or {})
    )


def value_error(_: Request[Any, Any, Any], exc: ValueError) -> Response[bytes]:
    return json({"detail": str(exc)}, status_code=400)


RETRY_AFTER_SECONDS = 2
"""What a 503 for a database fault tells the client to wait (``Retry-After``)."""


def unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[bytes]:
    """A database fault worth retrying (``is_transient``: connection lost or refused, the
    server restarting, a timeout, a serialization failure): 503 with ``Retry-After``."""
    log.warning(
        "database unavailable on %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        str(exc).splitlines()[0] if str(exc) else "",
    )
    return json(
        {"detail": "The database is unavailable; try again shortly."},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Anything the other handlers do not take. A database error that stands for a domain
    error (a value PostgreSQL cannot store, a taken id...) answers as that error; a database
    fault worth retrying (``is_transient``: a lost or refused connection, asyncpg's
    ``InterfaceError``, a pool acquire timeout, a serialization failure...) is a 503; any
    other is a 500."""
    domain = stands_for(exc)
    if domain is not None:
        return domain_error(request, domain)
    if is_transient(exc):
        return unavailable(request, exc)
    log.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json({"detail": "Internal Server Error"}, status_code=500)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error,
    HTTPException: http_error,
    AuthHTTPException: auth_error,
    ValueError: value_error,
    Exception: internal_error,
}
