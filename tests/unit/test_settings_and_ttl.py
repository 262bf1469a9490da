"""Settings read from the environment (``Settings.from_env``) and a thread's ``ttl`` as sent,
without a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import InvalidInput
from app.services.threads import MAX_TTL_MINUTES, parse_ttl
from app.settings import Settings


@pytest.fixture(autouse=True)
def no_langgraph_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``from_env`` picks up ./langgraph.json: run where there is none."""
    monkeypatch.chdir(tmp_path)


def test_an_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_environment_variables_and_their_types() -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@h/db",
            "TURNSTILE_HOST": "0.0.0.0",
            "PORT": "9000",
            "LANGGRAPH_CONFIG": "conf/langgraph.json",
            "TURNSTILE_WORKER_PROCESSES": "2",
            "TURNSTILE_DATA_DIR": "/data",
            "TURNSTILE_POOL_SIZE": "7",
            "TURNSTILE_LEASE_SECONDS": "2.5",
            "TURNSTILE_MAX_ATTEMPTS": "5",
            "TURNSTILE_RUN_TIMEOUT_SECONDS": "60",
            "TURNSTILE_DB_RETRY_SECONDS": "0.5",
            "TURNSTILE_MAX_CONNECTIONS": "0",
            "LOG_LEVEL": "DEBUG",
        }
    )
    assert (s.database_url, s.host, s.port) == ("postgresql://u@h/db", "0.0.0.0", 9000)
    assert (s.config_path, s.worker_processes, s.data_dir) == ("conf/langgraph.json", 2, "/data")
    assert (s.pool_max_size, s.lease_seconds, s.max_attempts) == (7, 2.5, 5)
    assert (s.run_timeout_seconds, s.db_retry_seconds, s.max_connections) == (60.0, 0.5, 0)
    assert s.log_level == "debug"


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_env({"DATABASE_URL": "", "PORT": "", "TURNSTILE_MAX_ATTEMPTS": ""}) == (
        Settings()
    )


def test_workers_by_either_name_the_turnstile_one_wins() -> None:
    assert Settings.from_env({"N_JOBS_PER_WORKER": "4"}).workers == 4
    assert Settings.from_env({"N_JOBS_PER_WORKER": "4", "TURNSTILE_WORKERS": "6"}).workers == 6


def test_stream_ttl_by_either_name() -> None:
    assert Settings.from_env({"RESUMABLE_STREAM_TTL_SECONDS": "30"}).stream_ttl_seconds == 30.0
    both = {"RESUMABLE_STREAM_TTL_SECONDS": "30", "TURNSTILE_STREAM_TTL_SECONDS": "5"}
    assert Settings.from_env(both).stream_ttl_seconds == 5.0


def test_flags_override_the_environment_and_none_means_unset() -> None:
    env = {"PORT": "9000", "TURNSTILE_HOST": "0.0.0.0"}
    s = Settings.from_env(env, port=7000, host=None, migrate=False)
    assert (s.port, s.host, s.migrate) == (7000, "0.0.0.0", False)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("no", False), ("off", False)],
)
def test_allow_private_webhooks(value: str, allowed: bool) -> None:
    assert (
        Settings.from_env({"TURNSTILE_WEBHOOK_ALLOW_PRIVATE": value}).webhook_allow_private
        is allowed
    )


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="TURNSTILE_DATABASE_POOLER is one of"):
        Settings.from_env({"TURNSTILE_DATABASE_POOLER": "session"})
    assert Settings.from_env({"TURNSTILE_DATABASE_POOLER": " Transaction "}).pooler == (
        "transaction"
    )
    with pytest.raises(ValueError, match="invalid literal for int"):
        Settings.from_env({"PORT": "eighty"})
    with pytest.raises(ValueError, match="invalid literal for int"):
        Settings.from_env({"TURNSTILE_MAX_ATTEMPTS": "2.5"})


def test_a_langgraph_json_in_the_working_directory_is_the_default_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "langgraph.json").write_text("{}")
    assert Settings.from_env({}).config_path == "langgraph.json"
    assert Settings.from_env({"LANGGRAPH_CONFIG": "other.json"}).config_path == "other.json"


def test_ttl_in_minutes_or_with_a_strategy() -> None:
    assert parse_ttl(None) is None
    assert parse_ttl(5) == (5.0, "delete")
    assert parse_ttl(0.5) == (0.5, "delete")
    assert parse_ttl({"ttl": 10}) == (10.0, "delete")
    assert parse_ttl({"ttl": 10, "strategy": None}) == (10.0, "delete")
    assert parse_ttl({"ttl": 10, "strategy": "keep_latest"}) == (10.0, "keep_latest")
    assert parse_ttl(MAX_TTL_MINUTES) == (float(MAX_TTL_MINUTES), "delete")


@pytest.mark.parametrize(
    "value", [0, -1, True, "5", MAX_TTL_MINUTES + 1, {"strategy": "delete"}, {"ttl": "5"}, [5]]
)
def test_ttl_that_is_not_a_positive_number_of_minutes(value: object) -> None:
    with pytest.raises(InvalidInput, match="ttl must be a positive number of minutes"):
        parse_ttl(value)


def test_ttl_with_an_unknown_strategy() -> None:
    with pytest.raises(InvalidInput, match="Invalid TTL strategy: 'archive'"):
        parse_ttl({"ttl": 5, "strategy": "archive"})
