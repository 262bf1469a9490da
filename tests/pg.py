"""Finding a PostgreSQL server for the tests and making throwaway databases on it.

Order: ``TURNSTILE_TEST_DATABASE_URL`` (CI points it at the machine's server); else a
testcontainers PostgreSQL when a Docker engine answers; else a server on 127.0.0.1:5432;
else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from app.db.urls import plain_url, with_database


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion on a private loop in another thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


async def _can_connect(url: str) -> bool:
    try:
        conn = await asyncpg.connect(plain_url(url), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def find_server() -> Iterator[str]:
    """Yield an admin URL (database ``postgres``) of a server the tests may use."""
    url = os.environ.get("TURNSTILE_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()
        return
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if run_sync(_can_connect(local)):
        yield local
        return
    from app.db.embedded import EmbeddedPostgres

    # As root the server runs as an unprivileged user, who must be able to reach the data
    # directory: a directory of our own, opened to others for traversal only.
    tmp = tempfile.mkdtemp(prefix="turnstile-test-pg-", dir="/tmp")
    os.chmod(tmp, 0o755)
    server = EmbeddedPostgres(Path(tmp) / "pgdata")
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def _admin(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(admin_url: str, *, template: str | None = None, prefix: str = "ts_test") -> str:
    """Create a fresh database (optionally cloned from ``template``) and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    run_sync(_admin(admin_url, f'CREATE DATABASE "{name}"{clause}'))
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    run_sync(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
