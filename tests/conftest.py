"""Shared fixtures: a real PostgreSQL, a migrated template database, one clone per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from app.db import migrate
from app.db.pool import create_pool
from tests.pg import create_database, drop_database, find_server

# The tiers, longest-running first: with several xdist workers (``-n``, pyproject.toml) a
# long module started last would run alone at the end. Within a tier, collection order.
# xdist keeps this order only with ``--no-loadscope-reorder`` (pyproject.toml): by default it
# hands out files by their number of tests, most first, which started the one-test fuzz last.
_TIERS = (
    "tests/contract/test_fuzz.py",
    "tests/soak/",
    "tests/durability/test_crash.py",
    "tests/faults/",
    "tests/durability/",
    "tests/contract/",
    "tests/js/",
)


def _tier(item: pytest.Item) -> int:
    path = item.nodeid
    return next((i for i, prefix in enumerate(_TIERS) if path.startswith(prefix)), len(_TIERS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_tier)  # stable: the order inside a tier is kept


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: ``TURNSTILE_TEST_PROCESSES``, else one per core plus one. Measured on two
    cores, clean clone, quiet machine, 981 tests in the tier order (``--no-loadscope-reorder``):
    3 processes 403 s, 4 380 s and 419 s, 5 461 s. The suite is CPU-bound: a process past one
    per core keeps the cores busy while a fault test waits out an outage; a fourth is within
    the noise, and more contention is what the timing-sensitive durability tests like least.
    (Before the zygote, when every server start spent seconds importing, a third was slower.)"""
    return int(os.environ.get("TURNSTILE_TEST_PROCESSES") or (os.cpu_count() or 1) + 1)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    with find_server() as url:
        yield url


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session; tests get clones of it."""
    url = create_database(pg_admin_url, prefix="ts_tmpl")
    try:
        migrate.upgrade(url)
        yield url.rsplit("/", 1)[1].split("?", 1)[0]
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
def database_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    url = create_database(pg_admin_url, template=template_database)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The app's kind of pool (``app.db.pool.create_pool``) on the test's database."""
    p = await create_pool(database_url, min_size=1, max_size=12)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """An empty database with no schema at all (migration tests)."""
    url = create_database(pg_admin_url)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture
async def client(server_url: str) -> AsyncIterator[LangGraphClient]:
    """The official SDK on the module's server (``server_url``, defined where it is used)."""
    c = get_client(url=server_url)
    try:
        yield c
    finally:
        await c.http.client.aclose()
