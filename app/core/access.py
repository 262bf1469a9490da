"""Who asks, and what they may see (DESIGN I9), without SQL.

``Access`` is what the access door (``app.auth.door``) decided: the filters a caller's rows
must satisfy, as the dicts ``langgraph_sdk.Auth`` handlers return (``app.db.access`` turns
them into SQL). ``Caller`` is who the caller is, for what a run create gives the run and the
thread it makes. ``ALL`` and ``ANONYMOUS`` stand for "no custom auth".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Filters = tuple[dict[str, Any], ...]


class Filterable(Protocol):
    """A query under construction that can render filters (``app.db.access.Where``)."""

    def add_filters(self, filters: Filters, column: str) -> None: ...


@dataclass(frozen=True)
class Access:
    """What the caller may see: metadata filters its rows must satisfy (all of them).

    ``assistant_filters``: on a run create, the conditions on the assistant it runs
    (``assistants.read``), beside ``metadata_filters`` on its thread."""

    metadata_filters: Filters = ()
    assistant_filters: Filters = ()

    def apply(self, where: Filterable, metadata_column: str = "metadata") -> None:
        """Add the filters to ``where``, on the JSONB ``metadata_column``."""
        where.add_filters(self.metadata_filters, metadata_column)

    def of_assistant(self) -> Access:
        """The access to the assistant of a run create."""
        return Access(self.assistant_filters)


ALL = Access()


@dataclass(frozen=True)
class Caller:
    """Who creates a run: ``user`` (an ``AuthUser.as_dict`` image; None without custom
    auth), ``stamp`` (metadata a create handler added, an owner say, given to a thread the
    run create makes) and ``configurable`` (what the run gets in ``config.configurable``:
    the user's ``langgraph_auth_user``... keys and the request headers
    ``http.configurable_headers`` picks)."""

    user: dict[str, Any] | None = None
    stamp: dict[str, Any] = field(default_factory=dict)
    configurable: dict[str, Any] = field(default_factory=dict)


ANONYMOUS = Caller()
