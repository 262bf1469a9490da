"""A thread's status once a run on it ended, was cancelled or was rolled back.

The rule for the run's own outcome is here: ``error`` if the run failed (or timed out),
``interrupted`` if the thread waits on an interrupt (or a breakpoint) to be resumed, else
``idle``. ``busy`` overrides it while the thread still has a run in flight (pending,
running, queued); only PostgreSQL can tell that (a run may be created while the finish
waits for the thread lock), so the statement that writes the status decides it
(``app.db.threads.BUSY``).
"""

from __future__ import annotations

from app.core.enums import ThreadStatus


def after_run(*, failed: bool, waiting: bool) -> ThreadStatus:
    """The thread's status after a run, unless another run keeps it ``busy``.

    ``failed``: the run ended ``error`` or ``timeout``. ``waiting``: the thread's latest
    state has a next step (an interrupt or breakpoint); a run cancelled before it started,
    or rolled back, leaves the thread as it was, waiting if it has interrupts."""
    if failed:
        return "error"
    if waiting:
        return "interrupted"
    return "idle"
