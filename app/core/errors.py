"""Domain errors. The API maps each class to one HTTP status in app/api/errors.py (I8)."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: ``detail`` is what the client reads in ``{"detail": ...}``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """The resource does not exist (or the caller may not see it)."""


class Conflict(DomainError):
    """The request clashes with the current state (existing id, busy thread...)."""


class ThreadBusy(Conflict):
    """A ``reject`` run on a thread that already has an active run (DESIGN I1)."""

    DETAIL = (
        "Thread is already running a task. Wait for it to finish or choose a different "
        "multitask strategy."
    )

    def __init__(self) -> None:
        super().__init__(self.DETAIL)


class InvalidInput(DomainError):
    """The request is well-formed JSON but not acceptable (HTTP 422)."""


class BadRequest(DomainError):
    """The request cannot be carried out as asked (HTTP 400)."""


class NotSupported(DomainError):
    """A feature that this server does not offer (HTTP 501)."""
