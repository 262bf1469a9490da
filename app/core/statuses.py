"""The run status sets, spelled once (``app.db.statuses`` adds them as SQL lists).

``queued`` is internal (a run waiting behind its thread's active run; the API shows it as
``pending``). The partial unique index (DESIGN I1) covers ``ACTIVE``; a thread is busy while
it has an ``INFLIGHT`` run; ``TERMINAL`` runs never change status again.
"""

from __future__ import annotations

RUN_STATUSES = ("pending", "queued", "running", "success", "error", "timeout", "interrupted")
ACTIVE = ("pending", "running")
"""At most one per thread (the partial unique index)."""
WAITING = ("pending", "queued")
"""Not started yet."""
INFLIGHT = ("pending", "running", "queued")
"""Not ended: the thread is busy while it has one."""
TERMINAL = ("success", "error", "timeout", "interrupted")


WEBHOOK_STATUSES = ("pending", "delivered", "failed")
"""A webhook delivery's (the outbox row's) status."""

ONE_ACTIVE_RUN_INDEX = "uq_runs_one_active_per_thread"
"""The partial unique index over ``ACTIVE`` runs of a thread (DESIGN I1): the name the error
translator keys on; a second active run violates it, and that becomes ThreadBusy, then 409.
Kept here, not with the tables, so that serving imports no SQLAlchemy."""
