"""The asyncpg pool: JSON(B) codecs via msgspec, one place to open it.

Behind a transaction-mode pooler (``pooler=True``: pgbouncer ``pool_mode=transaction``) each
transaction may run on another server connection, so nothing may outlive one: asyncpg's
named prepared statements (its statement cache) would be missing on the next server
connection, and session settings sent at connect are refused by the pooler or would leak to
other clients. So there the cache is off (asyncpg then parses each statement again with its
bind, as one unnamed statement) and no ``server_settings`` are sent (``SESSION`` included:
JIT stays as the server has it; statements are then planned for their own parameters, not
generically).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from app.core import jsonable
from app.db.urls import plain_url


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    for typename in ("jsonb", "json"):
        await conn.set_type_codec(
            typename,
            encoder=jsonable.dumps_str,
            decoder=jsonable.loads,
            schema="pg_catalog",
            format="text",
        )


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Release without asyncpg's default reset query (``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL``), a round trip on every release. Nothing here leaves session
    state behind: no advisory locks, cursors, LISTEN or SET on pooled connections (the LISTEN
    connection is the Hub's own); an open transaction is still rolled back by asyncpg."""


SESSION = {"jit": "off"}
"""Settings of every pool's connections: no JIT compilation. The server's statements are
short, key-driven reads and writes, and PostgreSQL decides to compile one from the planner's
cost estimate, which a generic plan over skewed data can put in the millions: at 1M runs and
a thread of 10k checkpoints the claim (whose lateral read of each run's checkpoint is
estimated at 70k rows a thread) spent 325 ms compiling to run for 0.06 ms, every poll."""

RELAXED = {"synchronous_commit": "off", "plan_cache_mode": "force_generic_plan"}
"""Settings of the workers' pool: commits that do not wait for the WAL flush, and prepared
statements planned once (the workers run a handful of fixed, key-driven statements
thousands of times; re-planning them per execution cost a fifth of PostgreSQL's time)."""


PROBE_SETTING = {"plan_cache_mode": "auto"}
"""A startup parameter PostgreSQL accepts (at its default value, so harmless) and pgbouncer
refuses unless told to ignore it."""


async def refuses_startup_parameters(url: str) -> bool:
    """Whether the server at ``url`` refused a startup parameter that PostgreSQL accepts,
    as pgbouncer does: then a pooler is in front. One-sided: a pooler that passes or ignores
    startup parameters (``ignore_startup_parameters``, other poolers) looks like PostgreSQL
    here, so acceptance proves nothing. Connection failures count as "no" (the real pool
    reports them)."""
    try:
        conn = await asyncpg.connect(
            plain_url(url), server_settings=PROBE_SETTING, statement_cache_size=0, timeout=10
        )
    except asyncpg.ProtocolViolationError as exc:
        return "unsupported startup parameter" in str(exc)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False
    await conn.close()
    return False


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 20,
    relaxed: bool = False,
    pooler: bool = False,
) -> asyncpg.Pool[Any]:
    """A pool; ``relaxed`` connections commit without waiting for the WAL flush
    (``synchronous_commit = off``): for writes whose loss in a PostgreSQL crash only sends a
    run back to its last durable checkpoint (workers' claims and in-run batches). What a
    client is told is committed (creates, finishes) never goes through such a pool; and a
    synchronous commit flushes every earlier one, so a finished run's writes are durable.

    ``pooler``: ``url`` goes through a transaction-mode pooler: no statement cache, and
    ``relaxed`` is dropped (its settings are startup parameters, which pgbouncer refuses,
    and a session ``SET`` would leak to other clients): claims and batches then commit
    synchronously, more durable and a WAL flush slower; ``plan_cache_mode`` would not help
    anyway, as no statement is prepared once and reused."""
    pool = await asyncpg.create_pool(
        plain_url(url),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings=None if pooler else {**SESSION, **(RELAXED if relaxed else {})},
        statement_cache_size=0 if pooler else 100,  # 100: asyncpg's default
    )
    assert pool is not None
    return pool
