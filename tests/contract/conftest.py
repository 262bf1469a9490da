"""One real server process per test module, on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
