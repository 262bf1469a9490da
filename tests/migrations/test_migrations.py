"""Migrations: upgrade an empty database, no drift against the models, down and up again."""

from __future__ import annotations

from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.schema import metadata
from app.db.statuses import ONE_ACTIVE_RUN_INDEX
from app.db.urls import sqlalchemy_url
from tests.pg import run_sync


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(sqlalchemy_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def _comment(url: str, table: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT obj_description($1::regclass, 'pg_class')", table)
    finally:
        await conn.close()


async def _index_def(url: str, name: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", name)
    finally:
        await conn.close()


def test_upgrade_no_drift_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    migrate.upgrade(url)
    tables = run_sync(_tables(url))
    assert {"assistants", "assistant_versions", "threads", "runs", "checkpoints"} <= tables
    assert run_sync(_diff(url)) == []
    for table in ("assistants", "threads", "runs", "checkpoints"):
        assert run_sync(_comment(url, table)), f"{table} has no COMMENT"
    index = run_sync(_index_def(url, ONE_ACTIVE_RUN_INDEX))
    assert index is not None
    assert "UNIQUE" in index
    assert "pending" in index
    assert "running" in index

    migrate.downgrade(url, "base")
    assert run_sync(_tables(url)) <= {"alembic_version"}

    migrate.upgrade(url)
    assert run_sync(_diff(url)) == []


def test_concurrent_upgrades_from_several_processes(empty_database_url: str) -> None:
    """Several `turnstile db upgrade` processes at once: the advisory lock serialises them."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": empty_database_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "app", "db", "upgrade"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert run_sync(_diff(empty_database_url)) == []


async def _thread_counter(url: str, insert: int = 0) -> tuple[int | None, int, int]:
    """After inserting ``insert`` threads: (the counter's sum, or None without its table;
    ``count(*)`` of threads; triggers and functions named thread_counts_*)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO threads (thread_id) SELECT gen_random_uuid() FROM generate_series(1, $1)",
            insert,
        )
        kept = None
        if await conn.fetchval("SELECT to_regclass('thread_counts')") is not None:
            kept = await conn.fetchval("SELECT sum(n) FROM thread_counts")
        real = await conn.fetchval("SELECT count(*) FROM threads")
        objects = await conn.fetchval(
            "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'thread\\_counts\\_%')"
            " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'thread\\_counts\\_%')"
        )
        return kept, real, objects
    finally:
        await conn.close()


def test_thread_counter_is_filled_from_existing_threads_and_dropped(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrate.upgrade(url, "0014_stream_watchers")
    assert run_sync(_thread_counter(url, insert=1234)) == (None, 1234, 0)
    migrate.upgrade(url, "0015_thread_count")
    assert run_sync(_thread_counter(url)) == (1234, 1234, 6)
    assert run_sync(_thread_counter(url, insert=6)) == (1240, 1240, 6)

    migrate.downgrade(url, "0014_stream_watchers")
    assert run_sync(_thread_counter(url, insert=10)) == (None, 1250, 0)
    migrate.upgrade(url)
    assert run_sync(_thread_counter(url, insert=1)) == (1251, 1251, 6)
