"""Log lines (app/logs.py) carry the ids bound where they were logged; access lines show only
the headers ``http.logging_headers`` names; the settings that turn metrics sharing and traces
on; what stops a command asked for traces it cannot export."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from app.api.observed import logging_headers
from app.graphs.config import ConfigError
from app.logs import JsonLines, PlainLines, WithIds
from app.observability import context, exposition, metrics, tracing
from app.settings import Settings


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(WithIds())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, out, handler
    finally:
        logger.removeHandler(handler)


def test_json_lines_carry_the_bound_ids_and_fields(captured) -> None:  # type: ignore[no-untyped-def]
    logger, out, handler = captured
    handler.setFormatter(JsonLines())
    with context.bound(run_id="r1", thread_id="t1", attempt=2, worker="h:1:x"):
        logger.info("inside %s", "the run", extra={"fields": {"status": 200}})
        with context.bound(request_id=None):  # None binds nothing
            logger.warning("nested")
    logger.info("outside")
    inside, nested, outside = (json.loads(line) for line in out.getvalue().splitlines())
    assert inside["event"] == "inside the run"
    assert inside["level"] == "info"
    assert inside["logger"] == "tests.logs"
    assert (inside["run_id"], inside["thread_id"], inside["attempt"]) == ("r1", "t1", 2)
    assert inside["worker"] == "h:1:x"
    assert inside["status"] == 200
    assert nested["run_id"] == "r1"
    assert "request_id" not in nested
    assert "run_id" not in outside


def test_plain_lines_end_with_the_ids(captured) -> None:  # type: ignore[no-untyped-def]
    logger, out, handler = captured
    handler.setFormatter(PlainLines())
    with context.bound(request_id="req-1"):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    first, *rest = out.getvalue().splitlines()
    assert first == "ERROR tests.logs: failed request_id=req-1"
    assert rest[-1] == "ValueError: boom"


def test_an_exception_is_kept_in_a_json_line(captured) -> None:  # type: ignore[no-untyped-def]
    logger, out, handler = captured
    handler.setFormatter(JsonLines())
    try:
        raise RuntimeError("kept")
    except RuntimeError:
        logger.exception("it failed")
    line = json.loads(out.getvalue())
    assert "RuntimeError: kept" in line["exception"]


def test_logging_headers_name_what_access_lines_show() -> None:
    assert logging_headers({}) is None  # the default: no header at all
    assert logging_headers({"logging_headers": {"excludes": ["x-*"]}}) is None
    policy = logging_headers(
        {"logging_headers": {"includes": ["x-*", "authorization"], "exclude": ["x-secret"]}}
    )
    assert policy is not None
    shown = policy.pick(
        {"x-trace": "1", "x-secret": "s", "authorization": "Bearer k", "x-api-key": "k", "a": "b"}
    )
    assert shown == {"x-trace": "1"}  # credentials never, whatever the patterns say
    with pytest.raises(ConfigError):
        logging_headers({"logging_headers": ["x-*"]})


def test_http_metrics_leave_out_probes_and_unrouted_paths() -> None:
    def count(path: str) -> int:
        return sum(
            e["count"]
            for e in exposition.http_requests(exposition.counted())
            if e["path"] == path and e["method"] == "PUT"
        )

    before = count("/unit/{thing}")
    metrics.http_request("PUT", "/unit/{thing}", 201, 0.003)
    metrics.http_request("PUT", "/ok", 200, 0.001)
    metrics.http_request("PUT", "", 404, 0.001)
    assert count("/unit/{thing}") == before + 1
    assert count("/ok") == 0
    assert count("") == 0


def test_settings_for_metrics_and_traces() -> None:
    assert Settings.from_env({}).metrics_dir is None
    assert Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": "/run/m"}).metrics_dir == "/run/m"
    assert Settings.from_env({"TURNSTILE_METRICS_DIR": "/run/t"}).metrics_dir == "/run/t"
    assert Settings.from_env({}).traces is False
    assert Settings.from_env({"TURNSTILE_OTEL": "1"}).traces is True
    assert Settings.from_env({"OTEL_ENABLED": "true"}).traces is True
    assert Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}).traces is True
    off = {"OTEL_ENABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    assert Settings.from_env(off).traces is False


def test_traces_that_cannot_be_exported_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(tracing.TracingUnavailable, match="'otlp' or 'console'"):
        tracing.exporter_from_env({"OTEL_TRACES_EXPORTER": "jaeger"})
    # Without the exporter's package (None in sys.modules: its import fails).
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(tracing.TracingUnavailable, match="opentelemetry-exporter-otlp-proto-http"):
        tracing.exporter_from_env({})
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(tracing.TracingUnavailable, match="turnstile\\[otel\\]"):
        tracing.configure(object())
    assert not tracing.enabled()
