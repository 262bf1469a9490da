"""Database URL forms (several hosts) and the pooler settings, without a database."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect
from sqlalchemy.engine import make_url

from app.db.urls import hosts, plain_url, sqlalchemy_url, with_database
from app.settings import Settings

HA = "postgresql://postgres@127.0.0.1:5001,127.0.0.1:5002/db?target_session_attrs=read-write"


def _connect_args(url: str) -> dict[str, object]:
    """What SQLAlchemy's asyncpg dialect would pass to ``asyncpg.connect``."""
    _, kwargs = dialect().create_connect_args(make_url(url))
    return dict(kwargs)


def test_a_multi_host_url_in_every_form() -> None:
    assert hosts(HA) == [("127.0.0.1", 5001), ("127.0.0.1", 5002)]
    assert plain_url(HA.replace("postgresql://", "postgres://")) == HA
    assert with_database(HA, "other") == HA.replace("/db?", "/other?")
    assert _connect_args(sqlalchemy_url(HA)) == {
        "database": "db",
        "user": "postgres",
        "target_session_attrs": "read-write",
        "host": ["127.0.0.1", "127.0.0.1"],
        "port": [5001, 5002],
    }
    # A port left out is the default one (the dialect wants one for each host); the
    # password stays, escaped as it was.
    assert _connect_args(sqlalchemy_url("postgresql://u:p%40ss@a,b:6/db")) == {
        "database": "db",
        "user": "u",
        "password": "p@ss",
        "host": ["a", "b"],
        "port": [5432, 6],
    }


def test_a_single_host_url_only_changes_scheme() -> None:
    url = "postgresql://u@h:7/db?sslmode=require"
    assert sqlalchemy_url(url) == "postgresql+asyncpg://u@h:7/db?sslmode=require"
    assert hosts("postgresql://[::1]:5/db") == [("::1", 5)]
    with pytest.raises(ValueError, match="port"):
        hosts("postgresql://h:x/db")


def test_pooler_mode_is_detected_from_a_direct_url_and_never_silently_dropped() -> None:
    pooled = "postgresql://u@bouncer:6432/db"
    direct = "postgresql://u@pg:5432/db"
    assert not Settings(database_url=pooled).pooled
    assert Settings(database_url=pooled, direct_database_url=direct).pooled
    assert not Settings(database_url=direct, direct_database_url=direct).pooled
    assert not Settings(database_url=pooled, direct_database_url=direct, pooler="none").pooled
    assert Settings(database_url=pooled, pooler="transaction").pooled
    assert Settings(database_url=pooled, direct_database_url=direct).database_problem() is None
    missing = Settings(database_url=pooled, pooler="transaction").database_problem()
    assert missing is not None
    assert "TURNSTILE_DIRECT_DATABASE_URL" in missing
    embedded = Settings(pooler="transaction").database_problem()
    assert embedded is not None
    assert "needs DATABASE_URL" in embedded
    env = {"DATABASE_URL": pooled, "TURNSTILE_DIRECT_DATABASE_URL": direct}
    from_env = Settings.from_env({**env, "TURNSTILE_DATABASE_POOLER": "Transaction"})
    assert from_env.pooler == "transaction"
    assert from_env.direct_database_url == direct
    with pytest.raises(ValueError, match="TURNSTILE_DATABASE_POOLER"):
        Settings.from_env({**env, "TURNSTILE_DATABASE_POOLER": "session"})
