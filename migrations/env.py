"""Alembic environment: async engine on asyncpg, migrations serialised by an advisory lock.

The URL comes from ``config.attributes["database_url"]`` (set by ``turnstile db`` and by
``turnstile serve``: the direct URL when there is a pooler), else, for a bare ``alembic``
invocation, from ``TURNSTILE_DIRECT_DATABASE_URL`` or ``DATABASE_URL``. The advisory lock is
a session lock: it needs a connection of its own to PostgreSQL, never a transaction-mode
pooler's. The connection is made by asyncpg from the URL as given (``async_creator``), as
the app's pools make theirs: several hosts, ``target_session_attrs``, ``application_name``,
``sslmode`` and the rest mean the same in both (SQLAlchemy's dialect would pass query
parameters as ``connect()`` keywords, which asyncpg refuses for ``application_name``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.schema import metadata
from app.db.urls import plain_url, sqlalchemy_url

# Several `turnstile serve` processes may start at once: the first takes this lock and
# migrates, the others wait and then find nothing left to do.
MIGRATION_LOCK_KEY = 7_135_422_917

config = context.config


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or os.environ.get("TURNSTILE_DIRECT_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError("No database URL: set DATABASE_URL or use `turnstile db ...`")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
        connection.commit()


async def _run_online() -> None:
    url = _database_url()

    async def connect() -> Any:
        return await asyncpg.connect(plain_url(url))

    engine = create_async_engine("postgresql+asyncpg://", async_creator=connect)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=sqlalchemy_url(_database_url()), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _run(existing)
    else:
        asyncio.run(_run_online())
