"""Database errors to domain errors, by SQLSTATE and constraint name (DESIGN I8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from app.core.errors import Conflict, DomainError, InvalidInput, ThreadBusy
from app.db.models import ONE_ACTIVE_RUN_INDEX

UNIQUE_VIOLATION = "23505"
# PostgreSQL stores no NUL character: not in text ("invalid byte sequence for encoding
# UTF8: 0x00"), not in jsonb ("unsupported Unicode escape sequence" for \u0000).
NUL_CHARACTER = frozenset({"22021", "22P05"})


def translate(exc: asyncpg.PostgresError) -> DomainError | None:
    """The domain error a database error stands for, or None if it is unexpected."""
    if exc.sqlstate == UNIQUE_VIOLATION:
        constraint = getattr(exc, "constraint_name", None)
        if constraint == ONE_ACTIVE_RUN_INDEX:
            return ThreadBusy()
        if constraint == "pk_threads":
            return Conflict("Thread already exists")
        if constraint == "pk_assistants":
            return Conflict("Assistant already exists")
    if exc.sqlstate in NUL_CHARACTER:
        return InvalidInput("Strings cannot contain the NUL character (\\u0000).")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise known database errors as domain errors."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        domain = translate(exc)
        if domain is None:
            raise
        raise domain from exc
