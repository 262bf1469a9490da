"""Checking client-chosen field names (``sort_by``, ``select``) against a resource's list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.core.errors import InvalidInput


def sort_field(value: str | None, allowed: Sequence[str], default: str = "created_at") -> str:
    field = value or default
    if field not in allowed:
        raise InvalidInput(f"Invalid sort_by: {field!r}. Expected one of {list(allowed)}")
    return field


def selected(
    select: Iterable[str], allowed: Sequence[str], ignored: Iterable[str] = ()
) -> list[str]:
    """The selected fields, each checked; ``ignored`` names are accepted and dropped
    (fields the SDK lists but the resource does not have, API.md §13)."""
    skip = set(ignored)
    fields = [name for name in select if name not in skip]
    for name in fields:
        if name not in allowed:
            raise InvalidInput(f"Invalid select field: {name!r}. Expected one of {list(allowed)}")
    return fields
