"""The run status sets of ``app.core.statuses`` as SQL lists, for ``status IN {...}``."""

from __future__ import annotations

from app.core.statuses import (
    ACTIVE,
    INFLIGHT,
    ONE_ACTIVE_RUN_INDEX,
    RUN_STATUSES,
    TERMINAL,
    WAITING,
    WEBHOOK_STATUSES,
)

__all__ = [
    "ACTIVE",
    "ACTIVE_SQL",
    "INFLIGHT",
    "INFLIGHT_SQL",
    "ONE_ACTIVE_RUN_INDEX",
    "RUN_STATUSES",
    "TERMINAL",
    "TERMINAL_SQL",
    "WAITING",
    "WAITING_SQL",
    "WEBHOOK_STATUSES",
    "sql_list",
]


def sql_list(statuses: tuple[str, ...]) -> str:
    """``('a', 'b')``: the set as an SQL list literal, for ``status IN {...}``."""
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"


ACTIVE_SQL = sql_list(ACTIVE)
WAITING_SQL = sql_list(WAITING)
INFLIGHT_SQL = sql_list(INFLIGHT)
TERMINAL_SQL = sql_list(TERMINAL)
