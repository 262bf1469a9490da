"""The access door (DESIGN I9): every repository read and write of an owned resource takes
an ``Access`` and adds its SQL condition before touching the table.

Today the only source of filters is the (future) custom auth; ``Access.ALL`` lets everything
through. A hidden row then answers exactly like a missing one, because the condition is part
of the same WHERE clause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class Access:
    """Metadata conditions the caller's rows must satisfy (all of them)."""

    metadata_filters: tuple[dict[str, Any], ...] = ()

    def apply(self, where: Where, metadata_column: str = "metadata") -> None:
        for cond in self.metadata_filters:
            where.add(f"{metadata_column} @> {where.param(cond)}::jsonb")


ALL = Access()
