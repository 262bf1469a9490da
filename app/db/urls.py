"""Database URL forms: asyncpg wants ``postgresql://``, SQLAlchemy wants ``postgresql+asyncpg://``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def plain_url(url: str) -> str:
    """The URL with a ``postgresql://`` scheme, as asyncpg expects."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """The URL with a ``postgresql+asyncpg://`` scheme, for SQLAlchemy and Alembic."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+asyncpg", *parts[1:]))


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
