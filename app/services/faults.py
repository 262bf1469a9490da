"""What a database error that escaped a use case means to its caller (DESIGN I8).

The translation itself lives at the persistence boundary (``app.db.errors``, by SQLSTATE
and constraint name); this is the face of it that the API's one exception handler and the
services' retry loops use, so that nothing above ``services`` imports ``app.db``.
"""

from __future__ import annotations

import asyncpg

from app.core.errors import DomainError
from app.db import errors
from app.db.errors import is_transient

__all__ = ["domain_error", "is_transient"]


def domain_error(exc: BaseException) -> DomainError | None:
    """The domain error ``exc`` stands for (a taken id, a value PostgreSQL cannot store, a
    second active run on a thread...), or None if it stands for none."""
    if isinstance(exc, asyncpg.PostgresError):
        return errors.translate(exc)
    return None
