"""Database errors to domain errors, by SQLSTATE and constraint name (DESIGN I8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from app.core.errors import Conflict, DomainError, InvalidInput, ThreadBusy
from app.db.statuses import ONE_ACTIVE_RUN_INDEX

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


TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "53300",  # too_many_connections
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout)
        "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, recovering)
        "25006",  # read_only_sql_transaction (a standby, before or during a failover)
    }
)
"""SQLSTATEs that say "try again": the statement did nothing, and a retry may succeed.
Class 08 (connection exceptions) counts too."""


CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
"""Serialization failure and deadlock: PostgreSQL rolled the transaction back before it
did anything, so running it again is always safe (unlike a lost connection, after which a
commit may or may not have happened)."""


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a serialization failure or a deadlock (``CONFLICT_SQLSTATES``)."""
    return isinstance(exc, asyncpg.PostgresError) and exc.sqlstate in CONFLICT_SQLSTATES


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a database fault worth retrying (connection lost or refused, the
    server restarting or failing over, a timeout or serialization failure), as opposed to a
    bug or bad input. Retrying is safe: the failed statement or transaction did nothing."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError):
        return True  # connection closed, refused, reset, timed out
    if isinstance(exc, asyncpg.InternalClientError):
        return True  # "cannot switch to state N": a connection that broke mid-operation
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state.startswith("08") or state in TRANSIENT_SQLSTATES
    return False
