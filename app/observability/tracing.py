"""OpenTelemetry traces (the optional ``otel`` extra; off unless ``configure`` turned them
on): a span per HTTP request (a child of the caller's ``traceparent``), per run (a child of
the request that created it, through the ``traceparent`` stored in the run's kwargs, so a
worker in another process continues the trace) and per graph node (LangChain callbacks).

Every function here is a no-op while traces are off, and ``opentelemetry`` is imported only
once they are on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

TRACEPARENT = "traceparent"
"""The run kwargs key (and the W3C header) that carries the creating request's span."""

_tracer: Any = None


class TracingUnavailable(Exception):
    """Traces were asked for but the OpenTelemetry packages are not installed."""


def exporter_from_env(env: Mapping[str, str]) -> Any:
    """The span exporter the environment asks for: ``OTEL_TRACES_EXPORTER=console`` (the
    SDK's, to stdout), else OTLP over HTTP (``OTEL_EXPORTER_OTLP_ENDPOINT``; it needs the
    ``opentelemetry-exporter-otlp-proto-http`` package)."""
    kind = (env.get("OTEL_TRACES_EXPORTER") or "otlp").strip().lower()
    try:
        if kind == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return ConsoleSpanExporter()
        if kind != "otlp":
            raise TracingUnavailable(
                f"OTEL_TRACES_EXPORTER={kind!r}: Turnstile exports 'otlp' or 'console'"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        return OTLPSpanExporter()
    except ImportError as exc:
        raise TracingUnavailable(
            f"traces are on (TURNSTILE_OTEL / OTEL_EXPORTER_OTLP_ENDPOINT) but {exc.name} is "
            "not installed: install the 'otel' extra (pip install 'turnstile[otel]') and, for "
            "OTLP, opentelemetry-exporter-otlp-proto-http; or set OTEL_TRACES_EXPORTER=console"
        ) from None


def start(env: Mapping[str, str]) -> None:
    """Traces on for a command, exported as the environment says (``exporter_from_env``).
    Raises TracingUnavailable (the command stops, naming the package to install)."""
    configure(exporter_from_env(env))


def configure(exporter: Any, *, batch: bool = True) -> None:
    """Traces on, sent to ``exporter`` (batched; ``batch=False``: each span when it ends,
    as tests want). Raises TracingUnavailable without the SDK."""
    global _tracer
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            f"traces are on but {exc.name} is not installed: pip install 'turnstile[otel]'"
        ) from None
    name = os.environ.get("OTEL_SERVICE_NAME") or "turnstile"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    atexit.register(provider.shutdown)  # the last batch is sent
    _tracer = provider.get_tracer("turnstile")


def off() -> None:
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


@contextlib.contextmanager
def request_span(method: str, route: str, headers: Iterable[tuple[bytes, bytes]]) -> Iterator[Any]:
    """The span of one HTTP request, a child of its ``traceparent`` header if any."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import propagate, trace

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
    with _tracer.start_as_current_span(
        f"{method} {route}" if route else method,
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        yield span


def set_status(span: Any, status: int) -> None:
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def stamp(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A run's kwargs, with the current span's ``traceparent`` when traces are on."""
    if _tracer is None:
        return kwargs
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if TRACEPARENT in carrier:
        kwargs[TRACEPARENT] = carrier[TRACEPARENT]
    return kwargs


@contextlib.contextmanager
def run_span(
    run_id: uuid.UUID, thread_id: uuid.UUID, attempt: int, kwargs: Mapping[str, Any]
) -> Iterator[None]:
    """The span of one attempt of a run, a child of the request that created it."""
    if _tracer is None:
        yield
        return
    from opentelemetry import propagate, trace

    parent = kwargs.get(TRACEPARENT)
    context = propagate.extract({TRACEPARENT: parent}) if isinstance(parent, str) else None
    with _tracer.start_as_current_span(
        "run",
        context=context,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "langgraph.run_id": str(run_id),
            "langgraph.thread_id": str(thread_id),
            "langgraph.attempt": attempt,
        },
    ):
        yield


def run_ended(status: str) -> None:
    """The current run's end, on its span: its status (an error or timeout marks it
    failed)."""
    if _tracer is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    span = trace.get_current_span()
    span.set_attribute("langgraph.status", status)
    if status in ("error", "timeout"):
        span.set_status(Status(StatusCode.ERROR, status))


def node_callbacks() -> list[Any]:
    """LangChain callbacks for a run's config: a span per graph node, children of the
    current (run) span. Empty while traces are off."""
    if _tracer is None:
        return []
    from app.observability.node_spans import NodeSpans

    return [NodeSpans(_tracer)]
