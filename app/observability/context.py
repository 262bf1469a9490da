"""The ids the current log line belongs to: the request being served, or the run being
executed (run id, thread id, attempt, worker). Set where a request or a run starts, in a
contextvar, so every task it spawns inherits them; read by ``app.logs``'s filter."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

_FIELDS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "turnstile_log_fields", default=None
)


def fields() -> dict[str, Any]:
    """The ids of the current request or run (empty outside both)."""
    return _FIELDS.get() or {}


@contextlib.contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Within this block (and the tasks started in it), log lines carry ``ids`` besides
    those already bound."""
    token = _FIELDS.set({**fields(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def bind(**ids: Any) -> None:
    """Add ``ids`` for the rest of the current context (a request's task)."""
    _FIELDS.set({**fields(), **{k: v for k, v in ids.items() if v is not None}})
