"""A span per graph node (traces on: ``app.observability.tracing``): LangChain callbacks
that open a span when a LangGraph node's run starts and close it when it ends, nested
under the run's span, and under the node that runs a subgraph for that subgraph's nodes."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

NOT_FAILURES = ("GraphInterrupt", "NodeInterrupt", "ParentCommand")
"""What a node raises to pause or steer the graph, not because it failed."""


class NodeSpans(BaseCallbackHandler):
    run_inline = True  # called on the event loop, in order, not in a thread pool

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer
        self.parent = otel_context.get_current()
        """The run's span (current when the run's config was built)."""
        self.spans: dict[uuid.UUID, Span] = {}
        """Open node spans by LangChain run id."""
        self.nearest: dict[uuid.UUID, Span | None] = {}
        """Every open chain's nearest node span (None: directly under the run)."""

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        above = self.nearest.get(parent_run_id) if parent_run_id is not None else None
        node = (metadata or {}).get("langgraph_node")
        if not node or kwargs.get("name") != node or (above is not None and _name(above) == node):
            self.nearest[run_id] = above
            return
        context = trace.set_span_in_context(above) if above is not None else self.parent
        span = self.tracer.start_span(
            f"node {node}",
            context=context,
            attributes={
                "langgraph.node": str(node),
                "langgraph.step": int((metadata or {}).get("langgraph_step") or 0),
            },
        )
        self.spans[run_id] = span
        self.nearest[run_id] = span

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id, None)

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end(run_id, error)

    def _end(self, run_id: uuid.UUID, error: BaseException | None) -> None:
        self.nearest.pop(run_id, None)
        span = self.spans.pop(run_id, None)
        if span is None:
            return
        if error is not None and type(error).__name__ not in NOT_FAILURES:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)[:200]))
        span.end()


def _name(span: Span) -> str | None:
    return getattr(span, "name", None)
