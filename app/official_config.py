"""The official server's configuration surface, and what Turnstile does with each part.

A team brings its ``langgraph.json`` and its environment from the official server. Every key
of the official ``langgraph.json`` schema (langgraph-cli's ``Config``) and every environment
variable of the official server's docs is listed here with its treatment:

- ``works``: honoured as the official server does (the note says where Turnstile differs);
- ``build``: read by ``langgraph build`` to make an image; it has no meaning for a running
  server, so ``serve`` accepts it and names it once in its start log;
- ``refused``: not supported; ``serve`` and ``worker`` stop at start, naming it and why.

Nothing is silently ignored: a key that is not in the official schema stops the server too
(a typo must not turn into a default). The README's table is checked against these tables
(tests/unit/test_official_config.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Treatment = Literal["works", "build", "refused"]


@dataclass(frozen=True)
class Rule:
    treatment: Treatment
    note: str


def _works(note: str) -> Rule:
    return Rule("works", note)


def _build(note: str = "image build only") -> Rule:
    return Rule("build", note)


def _refused(note: str) -> Rule:
    return Rule("refused", note)


KEYS: dict[str, Rule] = {
    "graphs": _works("graphs and their system assistants (Python graphs; JS graphs refused)"),
    "graphs.*": _works("`path` string or `{path, description}`"),
    "graphs.*.path": _works("file path or module path of the graph"),
    "graphs.*.description": _works("the system assistant's description"),
    "dependencies": _works("local paths go on `sys.path`; packages are installed by you"),
    "env": _works("inline object or `.env` path; the process environment wins"),
    "env.*": _works("one variable"),
    "python_version": _build(),
    "node_version": _build(),
    "api_version": _build(),
    "base_image": _build(),
    "image_distro": _build(),
    "pip_config_file": _build(),
    "pip_installer": _build(),
    "dockerfile_lines": _build(),
    "keep_pkg_tools": _build(),
    "source": _build(),
    "source.kind": _build(),
    "source.root": _build(),
    "source.package": _build(),
    "_INTERNAL_docker_tag": _build(),
    "store": _works("the store's settings"),
    "store.index": _works("semantic search of the store (exact ranking; see below)"),
    "store.index.embed": _works("a provider model (`openai:...`, needs `langchain`) or a function"),
    "store.index.dims": _works("the embedding's size; a change needs `turnstile store reindex`"),
    "store.index.fields": _works("JSON paths of the texts to embed (`$`: the whole value)"),
    "store.ttl": _works("default TTL of store items"),
    "store.ttl.default_ttl": _works("minutes; items put without a `ttl` get it"),
    "store.ttl.refresh_on_read": _works("default of `refresh_ttl` on get and search"),
    "store.ttl.sweep_interval_minutes": _works("how often expired items are deleted"),
    "checkpointer": _works("the checkpointer's settings"),
    "checkpointer.ttl": _works("default TTL of threads"),
    "checkpointer.ttl.strategy": _works("`delete` or `keep_latest`"),
    "checkpointer.ttl.default_ttl": _works("minutes; threads created without a `ttl` get it"),
    "checkpointer.ttl.sweep_interval_minutes": _works("how often expired threads are swept"),
    "checkpointer.ttl.sweep_limit": _works("threads swept per pass at most"),
    "checkpointer.serde": _refused(
        "checkpoint serializer policy (`checkpointer.serde`) is not supported: Turnstile "
        "stores checkpoints with LangGraph's JSON+msgpack serializer"
    ),
    "checkpointer.serde.*": _refused("see `checkpointer.serde`"),
    "checkpointer.path": _refused(
        "a custom checkpointer is not supported: Turnstile keeps checkpoints in its own tables"
    ),
    "checkpointer.backend": _refused(
        "another checkpointer backend is not supported: Turnstile keeps checkpoints in its "
        "own PostgreSQL tables"
    ),
    "auth": _works("custom auth"),
    "auth.path": _works("the `langgraph_sdk.Auth` instance"),
    "auth.disable_studio_auth": _works(
        "Turnstile has no LangSmith Studio bypass: custom auth always applies"
    ),
    "auth.allow_langsmith_api_keys": _refused("LangSmith API-key auth is not supported"),
    "auth.openapi": _works("security schemes added to `/openapi.json`"),
    "auth.openapi.securitySchemes": _works("merged into `components.securitySchemes`"),
    "auth.openapi.securitySchemes.*": _works("one scheme"),
    "auth.openapi.security": _works("the document's `security`"),
    "auth.openapi.paths": _works("per-path `security` overrides"),
    "auth.openapi.paths.*": _works("one path"),
    "auth.cache": _works("authenticate results cached per process"),
    "auth.cache.cache_keys": _works("request headers the cache is keyed on"),
    "auth.cache.ttl_seconds": _works("how long a result is reused"),
    "auth.cache.max_size": _works("results kept at most (least recently used evicted)"),
    "encryption": _refused("custom at-rest encryption (`encryption`) is not supported"),
    "encryption.path": _refused("custom at-rest encryption (`encryption`) is not supported"),
    "priority": _refused("run priority hooks (`priority`) are not supported"),
    "priority.path": _refused("run priority hooks (`priority`) are not supported"),
    "ui": _refused("generative UI bundles (`ui`) are not supported"),
    "ui.*": _refused("generative UI bundles (`ui`) are not supported"),
    "ui_config": _refused("generative UI bundles (`ui`) are not supported"),
    "http": _works("the HTTP server's settings"),
    "http.app": _works("your Starlette/FastAPI (or any ASGI) app, served beside the API"),
    "http.disable_assistants": _works("no `/assistants` routes"),
    "http.disable_threads": _works("no `/threads` routes"),
    "http.disable_runs": _works("no run routes (`/runs`, `/threads/{id}/runs`, crons)"),
    "http.disable_store": _works("no `/store` routes"),
    "http.disable_meta": _works("no `/info`, `/metrics`, `/docs`; `/ok` stays"),
    "http.disable_webhooks": _works("no webhook is called"),
    "http.disable_ui": _works("Turnstile serves no `/ui` routes"),
    "http.disable_mcp": _works("no `/mcp` routes (MCP tools)"),
    "http.disable_a2a": _works("no `/a2a` routes nor agent cards"),
    "http.cors": _works("CORS"),
    "http.cors.*": _works("as Starlette's CORSMiddleware"),
    "http.configurable_headers": _works("request headers copied into `configurable`"),
    "http.configurable_headers.*": _works("`includes`/`excludes` (or `include`/`exclude`)"),
    "http.logging_headers": _works("request headers shown in access log lines (none by default)"),
    "http.logging_headers.*": _works("`includes`/`excludes` patterns; credentials never"),
    "http.middleware_order": _works("`middleware_first` (default) or `auth_first`"),
    "http.enable_custom_route_auth": _works("custom auth on `http.app`'s routes too"),
    "http.mount_prefix": _works("every route under this prefix (`/ok` also at the root)"),
    "webhooks": _works("webhook URL policy and headers"),
    "webhooks.env_prefix": _works("only variables with this prefix may fill headers"),
    "webhooks.url": _works("which webhook URLs are accepted"),
    "webhooks.url.require_https": _works("only `https://` URLs"),
    "webhooks.url.allowed_domains": _works("host names (`*.example.com` wildcards)"),
    "webhooks.url.allowed_ports": _works("ports"),
    "webhooks.url.max_url_length": _works("characters"),
    "webhooks.url.disable_loopback": _works("default true: loopback refused"),
    "webhooks.url.disable_private_ips": _works("private addresses refused"),
    "webhooks.headers": _works("headers sent with every webhook; `${{ env.VAR }}` filled in"),
    "webhooks.headers.*": _works("one header"),
}
"""Every key of the official langgraph.json schema. ``*`` stands for any name (a graph id,
a variable, a header)."""


ENV: dict[str, Rule] = {
    "DATABASE_URI": _works("the PostgreSQL URL (`DATABASE_URL` is the same)"),
    "POSTGRES_URI": _works("as `DATABASE_URI`"),
    "POSTGRES_URI_CUSTOM": _works("as `DATABASE_URI`"),
    "N_JOBS_PER_WORKER": _works("concurrent runs per worker (`TURNSTILE_WORKERS`)"),
    "BG_JOB_TIMEOUT_SECS": _works("a run still going after this long ends `timeout`"),
    "BG_JOB_MAX_RETRIES": _works("claims of one run before it ends `error`"),
    "BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS": _works("how long runs may finish on SIGTERM"),
    "BG_JOB_ISOLATED_LOOPS": _works("true: runs execute in a worker process, off the API's loop"),
    "ALLOW_PRIVATE_NETWORK": _works("CORS preflights get `Access-Control-Allow-Private-Network`"),
    "CORS_ALLOW_ORIGINS": _works("comma-separated origins"),
    "CORS_CONFIG": _works("JSON, as `http.cors`"),
    "HTTP_MAX_REQUEST_BODY_BYTES": _works("larger bodies answer 413"),
    "LANGGRAPH_POSTGRES_POOL_MAX_SIZE": _works("connections per process at most"),
    "RESUMABLE_STREAM_TTL_SECONDS": _works("how long a run's events stay replayable"),
    "MOUNT_PREFIX": _works("as `http.mount_prefix`"),
    "LANGGRAPH_MOUNT_PREFIX": _works("as `http.mount_prefix`"),
    "LOG_LEVEL": _works("log level"),
    "LOG_JSON": _works("true: one JSON object per log line"),
    "LOG_COLOR": _works("Turnstile's logs are never coloured"),
    "PORT": _works("HTTP port"),
    "LANGSERVE_GRAPHS": _works("JSON graphs, when there is no langgraph.json"),
    "LANGGRAPH_STORE": _works("JSON, as the `store` key"),
    "LANGGRAPH_AUTH": _works("JSON, as the `auth` key"),
    "LANGGRAPH_HTTP": _works("JSON, as the `http` key"),
    "LANGGRAPH_CHECKPOINTER": _works("JSON, as the `checkpointer` key"),
    "LANGGRAPH_WEBHOOKS": _works("JSON, as the `webhooks` key"),
    "LANGGRAPH_THREAD_TTL": _works("minutes or JSON, as `checkpointer.ttl`"),
    "LANGGRAPH_ENCRYPTION": _refused("custom at-rest encryption is not supported"),
    "LANGGRAPH_PRIORITY": _refused("run priority hooks are not supported"),
    "LANGGRAPH_UI": _refused("generative UI bundles are not supported"),
    "LANGGRAPH_UI_CONFIG": _refused("generative UI bundles are not supported"),
    "LANGGRAPH_AES_KEY": _refused("at-rest encryption (`LANGGRAPH_AES_KEY`) is not supported"),
    "LANGGRAPH_STORE_BACKEND": _refused("another store backend is not supported"),
    "MONGODB_URI": _refused("a MongoDB checkpointer is not supported"),
    "LS_MONGODB_URI": _refused("a MongoDB checkpointer is not supported"),
    "LS_DEFAULT_CHECKPOINTER_BACKEND": _refused("another checkpointer backend is not supported"),
    "LANGGRAPH_AUTH_TYPE": _works(
        "`noop` only: LangSmith auth (`langsmith`) is not supported; use custom auth"
    ),
    "FF_CRONS_ENABLED": _works("crons are always enabled (`false` is refused)"),
    "DD_API_KEY": _refused("Datadog tracing is not supported"),
    "OTEL_ENABLED": _works(
        "true: OpenTelemetry traces (the `otel` extra; README: Logs and traces)"
    ),
    "LANGGRAPH_METRICS_ENABLED": _refused("metrics export to LangSmith is not supported"),
    "LANGGRAPH_LOGS_ENABLED": _refused("log export to LangSmith is not supported"),
    "REDIS_URI": _works("not needed: streams go through PostgreSQL"),
    "REDIS_URI_CUSTOM": _works("not needed: streams go through PostgreSQL"),
    "REDIS_CLUSTER": _works("not needed: streams go through PostgreSQL"),
    "REDIS_KEY_PREFIX": _works("not needed: streams go through PostgreSQL"),
    "REDIS_MAX_CONNECTIONS": _works("not needed: streams go through PostgreSQL"),
    "FF_USE_REDIS_QUEUE": _works("not needed: the queue is PostgreSQL's"),
    "LANGGRAPH_CLOUD_LICENSE_KEY": _works("not needed: Turnstile needs no licence"),
    "LANGSMITH_API_KEY": _works("read by LangSmith tracing in your graphs; no licence check"),
    "LANGSMITH_ENDPOINT": _works("read by LangSmith tracing in your graphs"),
    "LANGSMITH_TRACING": _works("read by LangSmith tracing in your graphs"),
    "LANGCHAIN_TRACING_V2": _works("read by LangSmith tracing in your graphs"),
}
"""The official server's environment variables (its docs, and the ones its config module
reads that a deployment sets)."""

FALSE = ("", "0", "false", "no", "off")


def _truthy(value: str) -> bool:
    return value.strip().lower() not in FALSE


FREE_FORM = ("env", "http.cors", "webhooks.headers", "auth.openapi")
"""Objects whose inner keys are names (variables, headers) or are checked where they are
read (CORS) or passed through (OpenAPI): not walked further."""


def _rule(path: str) -> Rule | None:
    """The rule of a key path (``graphs.agent.path`` matches ``graphs.*.path``)."""
    if path in KEYS:
        return KEYS[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        pattern = ".".join([*parts[:i], "*", *parts[i + 1 :]])
        if pattern in KEYS:
            return KEYS[pattern]
    return None


def _paths(raw: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every key path of ``raw`` with its value, descending into objects whose keys are
    schema keys (not into free-form ones: graph entries given as strings, env values...)."""
    for key, value in raw.items():
        path = f"{prefix}{key}"
        yield path, value
        if not isinstance(value, dict):
            continue
        rule = _rule(path)
        if rule is None or rule.treatment != "works" or path in FREE_FORM:
            continue  # reported, or covered by its own rule, or free-form
        yield from _paths(value, path + ".")


def config_problems(raw: Mapping[str, Any]) -> list[str]:
    """Why this langgraph.json cannot be served as the official server would: refused keys
    (with a value that asks for something) and keys the official schema does not have."""
    problems = []
    for path, value in _paths(raw):
        rule = _rule(path)
        if rule is None:
            problems.append(f"{path}: not a key of the official langgraph.json schema")
        elif rule.treatment == "refused" and value not in (None, False, {}, []):
            problems.append(f"{path}: {rule.note}")
    return problems


def build_keys(raw: Mapping[str, Any]) -> list[str]:
    """The image-build keys present (named in the start log: they do nothing when serving)."""
    return [p for p, _ in _paths(raw) if (r := _rule(p)) is not None and r.treatment == "build"]


def env_problems(env: Mapping[str, str]) -> list[str]:
    """Why this environment asks for something Turnstile does not do."""
    problems = []
    for name, rule in ENV.items():
        value = env.get(name)
        if value is None or not value.strip():
            continue
        if rule.treatment == "refused" and _refusal_applies(name, value):
            problems.append(f"{name}: {rule.note}")
    auth_type = env.get("LANGGRAPH_AUTH_TYPE", "").strip().lower()
    if auth_type and auth_type != "noop":
        problems.append(f"LANGGRAPH_AUTH_TYPE={auth_type}: {ENV['LANGGRAPH_AUTH_TYPE'].note}")
    crons = env.get("FF_CRONS_ENABLED", "").strip()
    if crons and not _truthy(crons):
        problems.append("FF_CRONS_ENABLED=false: turning crons off is not supported")
    return problems


def _refusal_applies(name: str, value: str) -> bool:
    """A refused flag set to false (``LANGGRAPH_METRICS_ENABLED=false``) or a backend set
    to the default asks for nothing."""
    if name in ("LANGGRAPH_METRICS_ENABLED", "LANGGRAPH_LOGS_ENABLED"):
        return _truthy(value)
    if name in ("LANGGRAPH_STORE_BACKEND", "LS_DEFAULT_CHECKPOINTER_BACKEND"):
        return value.strip().lower() not in ("default", "postgres")
    return True
