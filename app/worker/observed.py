"""An attempt of a run, observed: the ids its log lines carry (the graph's own included),
its span when traces are on, and its lease loss counted (``app.observability``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from app.observability import context, metrics, tracing
from app.worker.claimed import ClaimedRun

log = logging.getLogger("turnstile.worker")


def ids(run: ClaimedRun, worker: str) -> dict[str, Any]:
    """What every log line of this attempt carries (``app.logs``)."""
    return {
        "run_id": str(run.run_id),
        "thread_id": str(run.thread_id),
        "attempt": run.attempt,
        "worker": worker,
    }


def lease_gone(run: ClaimedRun, worker: str) -> None:
    """The lease keeper found the attempt no longer holds its run: say so, with its ids."""
    with context.bound(**ids(run, worker)):
        log.warning(
            "run %s: lease epoch %s is no longer held; stopping the attempt",
            run.run_id,
            run.epoch,
        )


@contextlib.contextmanager
def attempt(run: ClaimedRun, worker: str) -> Iterator[None]:
    """Around the execution of ``run`` by ``worker`` (its lease owner name), which began
    right after its claim (counted here, with its wait in the queue)."""
    metrics.run_claimed(run.attempt, run.queued_seconds)
    try:
        with (
            context.bound(**ids(run, worker)),
            tracing.run_span(run.run_id, run.thread_id, run.attempt, run.kwargs),
        ):
            yield
    finally:
        if run.lease_lost:
            metrics.lease_lost()
