"""The official server's configuration surface (app/official_config.py, app/policies.py):
every key and variable is honoured, named as build-only, or refused at start; the README's
table says the same as the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app import official_config
from app.core.errors import InvalidInput
from app.graphs.config import ConfigError, load_config
from app.policies import Policies
from app.services import webhooks
from app.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_rows() -> dict[str, str]:
    """``| `name` | treatment | ...`` rows of the README's drop-in tables."""
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"^\| `([^`]+)` \| (works|build|refused) \|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_readme_table_lists_every_key_and_variable_with_its_treatment() -> None:
    rows = _readme_rows()
    for name, rule in {**official_config.KEYS, **official_config.ENV}.items():
        assert rows.get(name) == rule.treatment, name
    assert set(rows) <= set(official_config.KEYS) | set(official_config.ENV)


def test_config_problems_name_refused_and_unknown_keys() -> None:
    raw = {
        "graphs": {"a": {"path": "./a.py:g", "description": "d"}, "b": "./b.py:g"},
        "env": {"ANY_NAME": "1"},
        "python_version": "3.12",
        "auth": {"path": "./auth.py:auth", "openapi": {"securitySchemes": {"k": {"type": "x"}}}},
        "http": {"cors": {"allow_origins": ["*"]}, "disable_mcp": True},
        "webhooks": {"headers": {"X-Anything": "v"}},
    }
    assert official_config.config_problems(raw) == []
    assert official_config.build_keys(raw) == ["python_version"]
    raw = {
        "graphs": {"a": {"path": "./a.py:g", "descripton": "typo"}},
        "store": {"index": {"dims": 3, "distance_type": "cosine"}},
        "checkpointer": {"serde": {"pickle_fallback": False}, "ttl": {"sweep_limt": 3}},
        "ui": {},  # empty: asks for nothing
        "encryption": {"path": "./e.py:e"},
    }
    assert official_config.config_problems(raw) == [
        "graphs.a.descripton: not a key of the official langgraph.json schema",
        "store.index.distance_type: not a key of the official langgraph.json schema",
        f"checkpointer.serde: {official_config.KEYS['checkpointer.serde'].note}",
        "checkpointer.ttl.sweep_limt: not a key of the official langgraph.json schema",
        f"encryption: {official_config.KEYS['encryption'].note}",
    ]


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"LANGGRAPH_AES_KEY": "x"}, "LANGGRAPH_AES_KEY"),
        ({"DD_API_KEY": "x"}, "DD_API_KEY"),
        ({"LANGGRAPH_METRICS_ENABLED": "true"}, "LANGGRAPH_METRICS_ENABLED"),
        ({"LANGGRAPH_STORE_BACKEND": "mongo"}, "LANGGRAPH_STORE_BACKEND"),
        ({"LANGGRAPH_AUTH_TYPE": "langsmith"}, "LANGGRAPH_AUTH_TYPE=langsmith"),
        ({"FF_CRONS_ENABLED": "false"}, "FF_CRONS_ENABLED=false"),
    ],
)
def test_env_problems(env: dict[str, str], problem: str) -> None:
    (found,) = official_config.env_problems(env)
    assert found.startswith(problem)


def test_env_that_asks_for_nothing_is_fine() -> None:
    env = {
        "OTEL_ENABLED": "false",
        "LANGGRAPH_STORE_BACKEND": "default",
        "LANGGRAPH_AUTH_TYPE": "noop",
        "FF_CRONS_ENABLED": "true",
        "REDIS_URI": "redis://cache:6379",
        "LANGGRAPH_CLOUD_LICENSE_KEY": "lk",
        "SOMETHING_ELSE": "x",
    }
    assert official_config.env_problems(env) == []


def test_settings_read_the_official_names() -> None:
    s = Settings.from_env(
        {
            "DATABASE_URI": "postgresql://u@db/x",
            "BG_JOB_TIMEOUT_SECS": "7",
            "BG_JOB_MAX_RETRIES": "5",
            "BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS": "42",
            "LANGGRAPH_POSTGRES_POOL_MAX_SIZE": "33",
            "HTTP_MAX_REQUEST_BODY_BYTES": "1000",
            "N_JOBS_PER_WORKER": "4",
            "BG_JOB_ISOLATED_LOOPS": "true",
            "LOG_JSON": "true",
            "ALLOW_PRIVATE_NETWORK": "1",
        }
    )
    assert s.database_url == "postgresql://u@db/x"
    assert (s.run_timeout_seconds, s.max_attempts, s.shutdown_grace_seconds) == (7, 5, 42)
    assert (s.pool_max_size, s.max_body_bytes, s.workers) == (33, 1000, 4)
    assert s.worker_processes == 1
    assert s.log_json
    assert s.allow_private_network
    # Ours win where both are set; the same URL under two names is fine.
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db/x",
            "POSTGRES_URI": "postgresql://u@db/x",
            "BG_JOB_MAX_RETRIES": "5",
            "TURNSTILE_MAX_ATTEMPTS": "2",
        }
    )
    assert (s.database_url, s.max_attempts) == ("postgresql://u@db/x", 2)
    with pytest.raises(ValueError, match="DATABASE_URL and POSTGRES_URI give different"):
        Settings.from_env(
            {"DATABASE_URL": "postgresql://a@h/x", "POSTGRES_URI": "postgresql://b@h/y"}
        )


def test_config_sections_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {"g": "./g.py:g"}, "http": {"disable_store": True}}))
    env = {
        "LANGGRAPH_STORE": json.dumps({"ttl": {"default_ttl": 5}}),
        "LANGGRAPH_HTTP": json.dumps({"disable_store": True}),
        "LANGGRAPH_THREAD_TTL": "90",
    }
    raw = load_config(str(path), env).raw
    assert raw["store"] == {"ttl": {"default_ttl": 5}}
    assert raw["checkpointer"]["ttl"] == {"strategy": "delete", "default_ttl": 90.0}
    with pytest.raises(ConfigError, match="LANGGRAPH_HTTP and the 'http' key"):
        load_config(str(path), {"LANGGRAPH_HTTP": json.dumps({"disable_runs": True})})
    with pytest.raises(ConfigError, match="LANGGRAPH_STORE is not valid JSON"):
        load_config(str(path), {"LANGGRAPH_STORE": "{"})
    graphs = load_config(None, {"LANGSERVE_GRAPHS": json.dumps({"x": "pkg.mod:graph"})})
    assert [(g.graph_id, g.spec) for g in graphs.graphs] == [("x", "pkg.mod:graph")]
    assert [g.graph_id for g in load_config(None, {}).graphs] == ["agent"]


def test_policies_parse_and_check_values() -> None:
    p = Policies.of({}, {})
    assert p.threads.default_minutes is None
    assert p.store.refresh_on_read is True
    assert p.http.disabled == frozenset()
    assert p.http.mount_prefix is None
    p = Policies.of(
        {
            "checkpointer": {
                "ttl": {"strategy": "keep_latest", "default_ttl": 10, "sweep_limit": 7}
            },
            "store": {
                "ttl": {"default_ttl": 3, "refresh_on_read": False, "sweep_interval_minutes": 2}
            },
            "http": {
                "disable_runs": True,
                "mount_prefix": "/a/b/",
                "middleware_order": "auth_first",
            },
            "webhooks": {
                "env_prefix": "HOOK_",
                "url": {"disable_private_ips": False, "allowed_ports": [443]},
                "headers": {"Authorization": "Bearer ${{ env.HOOK_TOKEN }}"},
            },
            "auth": {"cache": {"cache_keys": ["Authorization"], "ttl_seconds": 5}},
        },
        {"HOOK_TOKEN": "t0k"},
    )
    assert (p.threads.strategy, p.threads.default_minutes, p.threads.sweep_limit) == (
        "keep_latest",
        10.0,
        7,
    )
    assert (p.store.default_minutes, p.store.refresh_on_read, p.store.sweep_seconds) == (
        3,
        False,
        120,
    )
    assert p.http.disabled == {"runs"}
    assert p.http.mount_prefix == "/a/b"
    assert p.http.auth_first
    assert p.webhooks.headers == {"Authorization": "Bearer t0k"}
    assert p.webhooks.allow_private is True
    assert p.webhooks.allow_loopback is None
    assert p.auth_cache is not None
    assert p.auth_cache.keys == ("authorization",)
    assert Policies.of({}, {"MOUNT_PREFIX": "/x"}).http.mount_prefix == "/x"
    for raw, env, message in [
        ({"checkpointer": {"ttl": {"default_ttl": -1}}}, {}, "checkpointer.ttl.default_ttl"),
        ({"http": {"mount_prefix": "api"}}, {}, "http.mount_prefix"),
        ({"http": {"mount_prefix": "/noauth"}}, {}, "reserved"),
        ({"http": {"middleware_order": "random"}}, {}, "http.middleware_order"),
        ({"http": {"disable_runs": "yes"}}, {}, "http.disable_runs must be true or false"),
        ({"webhooks": {"url": {"allowed_ports": [0]}}}, {}, "allowed_ports"),
        (
            {"webhooks": {"env_prefix": "HOOK_", "headers": {"h": "${{ env.OTHER }}"}}},
            {"OTHER": "x"},
            "does not start with webhooks.env_prefix",
        ),
        ({"auth": {"cache": {"ttl_seconds": 5}}}, {}, "auth.cache.cache_keys"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            Policies.of(raw, env)


async def test_webhook_policy_checks_the_url_form() -> None:
    policy = webhooks.WebhookPolicy(
        allow_loopback=True,
        allow_private=True,
        require_https=True,
        allowed_domains=("hooks.example.com", "*.corp.example"),
        allowed_ports=(443, 8443),
        max_url_length=60,
        local_base_url="http://127.0.0.1:8123",
    )
    await webhooks.check("https://hooks.example.com/in", policy)
    await webhooks.check("https://a.b.corp.example:8443/in", policy)
    for url, message in [
        ("http://hooks.example.com/in", "Webhook must use https"),
        ("https://hooks.example.com:444/in", "Webhook port 444 not allowed"),
        ("https://corp.example.evil.org/in", "Webhook domain not allowed"),
        ("https://hooks.example.com/" + "x" * 60, "Webhook URL too long"),
    ]:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            await webhooks.check(url, policy)
    assert webhooks.absolute("/my/hook", policy) == "http://127.0.0.1:8123/my/hook"
    assert webhooks.absolute("https://x.example/h", policy) == "https://x.example/h"
    with pytest.raises(InvalidInput, match="Relative webhook URLs"):
        webhooks.absolute("/my/hook", webhooks.WebhookPolicy())
