"""One real server process per test module, on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.auth_example import AUTH_EXAMPLE, NO_TOKEN_DELAY
from tests.pg import create_database, drop_database
from tests.server import running_server


@pytest.fixture(scope="module")
def module_database_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    url = create_database(pg_admin_url, template=template_database)
    try:
        yield url
    finally:
        drop_database(pg_admin_url, url)


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url) as url:
        yield url


@pytest.fixture(scope="module")
def auth_url(pg_admin_url: str, template_database: str) -> Iterator[str]:
    """A server running the README's custom-auth example, on a database of its own."""
    url = create_database(pg_admin_url, template=template_database)
    try:
        with running_server(url, config=AUTH_EXAMPLE, env=NO_TOKEN_DELAY) as served:
            yield served
    finally:
        drop_database(pg_admin_url, url)
