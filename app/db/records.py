"""Rows as plain dicts for the API: ids as strings, timestamps in ISO 8601."""

from __future__ import annotations

from typing import Any

import asyncpg


def to_dict(row: asyncpg.Record, *, ids: tuple[str, ...], times: tuple[str, ...]) -> dict[str, Any]:
    """``row`` without the window count of a search page (``_total``); the columns named in
    ``ids`` (UUIDs) and ``times`` (timestamps) converted when present and not null."""
    out = dict(row)
    out.pop("_total", None)
    for key in ids:
        if out.get(key) is not None:
            out[key] = str(out[key])
    for key in times:
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    return out
