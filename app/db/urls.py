"""Database URL forms: asyncpg wants ``postgresql://``, SQLAlchemy wants ``postgresql+asyncpg://``.

A URL may name several servers, libpq style: ``postgresql://u@h1:5432,h2:5433/db?
target_session_attrs=read-write`` (high availability: the connection goes to whichever of
them is the primary now). asyncpg reads that form itself; SQLAlchemy's asyncpg dialect does
not parse a comma-separated netloc, so ``sqlalchemy_url`` moves the hosts into its own
``?host=h1:p1&host=h2:p2`` form, which the dialect hands to ``asyncpg.connect`` unchanged.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

DEFAULT_PORT = 5432


def plain_url(url: str) -> str:
    """The URL with a ``postgresql://`` scheme, as asyncpg expects."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def hosts(url: str) -> list[tuple[str, int | None]]:
    """The ``(host, port)`` pairs of the URL's netloc, in order (port None: not given).
    Raises ValueError for a port that is not a number."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    pairs: list[tuple[str, int | None]] = []
    for item in netloc.split(",") if netloc else []:
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if port and not port.isdigit():
            raise ValueError(f"not a port number in the database URL: {port!r}")
        pairs.append((host, int(port) if port else None))
    return pairs


def sqlalchemy_url(url: str) -> str:
    """The URL with a ``postgresql+asyncpg://`` scheme, for SQLAlchemy and Alembic. Several
    hosts become ``?host=h1:p1&host=h2:p2`` (the dialect wants a port for each: 5432 where
    the URL gives none); the other query parameters (``target_session_attrs``...) stay."""
    parts = urlsplit(url)
    servers = hosts(url)
    if len(servers) <= 1:
        return urlunsplit(("postgresql+asyncpg", *parts[1:]))
    if any(":" in host for host, _ in servers):
        raise ValueError("several hosts in a database URL must be names or IPv4 addresses")
    userinfo, at, _ = parts.netloc.rpartition("@")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "host"]
    query += [("host", f"{host}:{port or DEFAULT_PORT}") for host, port in servers]
    return urlunsplit(
        (
            "postgresql+asyncpg",
            userinfo + at,  # "user:password@", or nothing; SQLAlchemy reads no host here
            parts.path,
            urlencode(query, quote_via=quote, safe=":/"),
            parts.fragment,
        )
    )


def with_database(url: str, database: str) -> str:
    """The same server URL (one host or several) pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
