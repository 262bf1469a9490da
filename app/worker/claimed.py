"""A run as a worker claimed it, and what its attempt has learnt since (cancel, shutdown,
lease lost). Shared by the pool (which claims and signals), the executor (which runs the
graph) and the finish (which writes the outcome)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from app.checkpoint.rows import Starting
from app.db import runs as run_rows


@dataclass
class ClaimedRun:
    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    attempt: int
    epoch: int
    token: uuid.UUID
    """The claim's random lease token: with the epoch it fences every write (DESIGN I4)."""
    temporary: bool
    cancel_action: str | None = None
    """Set when a cancel arrives; the task is then cancelled (if it may be)."""
    shutdown: bool = False
    cancel_requested: bool = False
    started: bool = False
    """The task has begun ``execute``: before that, a cancel is a flag it reads at start."""
    finishing: bool = False
    """The graph is done and the outcome is being written: no more cancelling."""
    lease_lost: bool = False
    """The run is no longer held by this attempt (the lease keeper found it, or a fenced
    write was refused): it stops."""
    strategy: str = "enqueue"
    """The run's multitask strategy (for the metrics)."""
    queued_seconds: float = 0.0
    """How long the run had waited since its creation (or due time) when claimed."""
    claimed_at: float = field(default_factory=time.monotonic)
    start: Starting | None = None
    """The thread's newest root checkpoint as the claim read it; the attempt's first saver
    answers the graph's first read with it (``take_start``)."""

    def take_start(self) -> Starting | None:
        """``start``, once: a later saver of the attempt (after a fault) reads the table."""
        start, self.start = self.start, None
        return start

    @property
    def events_when_watched(self) -> bool:
        """A wait endpoint made it: its events are written only while somebody reads it
        (or its thread) live."""
        return bool(self.kwargs.get("events_when_watched"))

    @property
    def cancellable(self) -> bool:
        """Whether cancelling the task now stops the graph (and nothing else)."""
        return self.started and not self.finishing

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ClaimedRun:
        return cls(
            run_id=row["run_id"],
            thread_id=row["thread_id"],
            assistant_id=row["assistant_id"],
            kwargs=row["kwargs"],
            metadata=row["metadata"],
            attempt=row["attempt"],
            epoch=row["lease_epoch"],
            token=row["lease_token"],
            temporary=row["temporary"],
            cancel_action=row["cancel_action"],
            strategy=row["multitask_strategy"],
            queued_seconds=row["queued_seconds"],
            start=Starting.of(str(row["thread_id"]), row, run_rows.START),
        )
