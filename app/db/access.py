"""The access door as SQL (DESIGN I9): every repository read and write of an owned resource
takes an ``Access`` (``app.core.access``) and adds its conditions to the statement's
``Where`` (``access.apply(where, column)``) before touching the table.

The conditions come from custom auth (``app.auth.door``): the filter dicts its handlers
return, applied to the resource's metadata in the same WHERE clause as the id, so a hidden
row answers exactly like a missing one. ``ALL`` lets everything through.

Filter dicts (what ``langgraph_sdk.Auth`` handlers return)::

    {"owner": "alice"}                      metadata.owner equals "alice"
    {"owner": {"$eq": "alice"}}             the same
    {"tags": {"$contains": "x"}}            metadata.tags (an array) holds "x"
    {"tags": {"$contains": ["x", "y"]}}     ... holds both
    {"$or": [f1, f2]}, {"$and": [f1, f2]}   any / all of the nested filters
Several keys in one dict must all hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.access import Filters


@dataclass
class Where:
    """A WHERE clause under construction, with numbered asyncpg parameters."""

    params: list[Any] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    def sql(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "TRUE"

    def add_filters(self, filters: Filters, column: str) -> None:
        """Each filter dict as a condition on the JSONB ``column`` (``Access.apply``)."""
        for flt in filters:
            self.add(condition(self, flt, column))


class FilterError(Exception):
    """An auth handler returned a filter this server cannot apply: a bug in auth.py, answered
    500 (logged), never as the client's fault."""


def condition(where: Where, flt: dict[str, Any], column: str) -> str:
    """One filter dict as SQL on the JSONB ``column`` (parameters numbered in ``where``)."""
    if not isinstance(flt, dict):
        raise FilterError(f"An auth filter must be a dict, got {type(flt).__name__}")
    parts: list[str] = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters")
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + joiner.join(condition(where, f, column) for f in value) + ")")
        elif key.startswith("$"):
            raise FilterError(f"Unsupported auth filter operator: {key}")
        else:
            parts.append(_field(where, column, key, value))
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def _field(where: Where, column: str, key: str, value: Any) -> str:
    if not isinstance(value, dict) or not any(str(k).startswith("$") for k in value):
        return _equals(where, column, key, value)
    parts = []
    for op, operand in value.items():
        if op == "$eq":
            parts.append(_equals(where, column, key, operand))
        elif op == "$contains":
            items = operand if isinstance(operand, list) else [operand]
            parts.append(f"({column} -> {where.param(key)}::text) @> {where.param(items)}::jsonb")
        else:
            raise FilterError(f"Unsupported auth filter operator: {op}")
    if not parts:
        raise FilterError(f"Empty operator dict for {key!r}")
    return " AND ".join(parts)


def _equals(where: Where, column: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"({column} -> {where.param(key)}::text) = {where.param(value)}::jsonb"
    # A scalar: containment is exact equality here, and can use the GIN index.
    return f"{column} @> {where.param({key: value})}::jsonb"
