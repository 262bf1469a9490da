"""OpenTelemetry traces nest request → run → node, continuing the caller's ``traceparent``.

The spans are read from the SDK's in-memory exporter, so the app (``create_app``, with its
in-process worker pool) runs in the test process; the request goes through the whole ASGI
app (middleware, routing, the run create) and the run through the real worker pool, which
continues the trace from the ``traceparent`` stored with the run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.main import create_app
from app.observability import tracing
from app.settings import Settings

GRAPHS = str(Path(__file__).parent.parent / "graphs" / "langgraph.json")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    tracing.configure(spans, batch=False)
    try:
        yield spans
    finally:
        tracing.off()


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_spans_nest_request_run_node(
    database_url: str, exporter: InMemorySpanExporter
) -> None:
    app = create_app(Settings(database_url=database_url, config_path=GRAPHS, workers=2))
    async with AsyncTestClient(app) as client:
        tid = (await client.post("/threads", json={})).json()["thread_id"]
        res = await client.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "steps", "input": {"label": "t"}},
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
        )
        assert res.status_code == 200
        assert res.json()["log"] == ["t", "done:t"]
        deadline = time.monotonic() + 10
        while not _named(exporter.get_finished_spans(), "run"):  # ends once the finish is done
            assert time.monotonic() < deadline, "no run span within 10 s"
            await asyncio.sleep(0.02)
    spans = exporter.get_finished_spans()
    (request,) = _named(spans, "POST /threads/{thread_id}/runs/wait")
    (run,) = _named(spans, "run")
    work, finish = _named(spans, "node work"), _named(spans, "node finish")
    assert len(work) == len(finish) == 1
    # One trace, the caller's: request under the caller's span, run under the request,
    # each node under the run.
    assert {format(s.context.trace_id, "032x") for s in (request, run, *work, *finish)} == {
        TRACE_ID
    }
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == CALLER_SPAN
    assert run.parent is not None
    assert run.parent.span_id == request.context.span_id
    for node in (*work, *finish):
        assert node.parent is not None
        assert node.parent.span_id == run.context.span_id
    assert run.attributes is not None
    assert run.attributes["langgraph.thread_id"] == tid
    assert run.attributes["langgraph.status"] == "success"
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    # The thread create had no traceparent: a trace of its own.
    (create,) = _named(spans, "POST /threads")
    assert create.parent is None
