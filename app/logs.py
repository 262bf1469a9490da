"""Logging for the commands: plain lines, or one JSON object per line (``LOG_JSON``), at
``LOG_LEVEL``, for every logger (uvicorn's included).

Every line carries the ids of what it belongs to (``app.observability.context``): a
request's ``request_id``, a run's ``run_id``, ``thread_id``, ``attempt`` and ``worker``
(the lease owner executing it), its graph's own log lines included. JSON lines have them as
keys; plain lines end with ``key=value`` pairs.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from app.observability import context
from app.settings import Settings

IDS = "ids"
"""The record attribute the filter sets: the ids bound where the line was logged."""

FIELDS = "fields"
"""A record attribute callers may set (``extra={"fields": {...}}``): more keys of the line
(the access log's method, route, status, latency, headers)."""


class WithIds(logging.Filter):
    """Gives each record the ids bound where it was logged (``record.ids``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, IDS):
            setattr(record, IDS, context.fields())
        return True


class JsonLines(logging.Formatter):
    """``LOG_JSON=true``: each record as one JSON object (time, level, logger, message, the
    ids, the record's fields, and the exception's traceback when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, IDS, None) or {})
        line.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


class PlainLines(logging.Formatter):
    """``level logger: message``, then the ids as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = getattr(record, IDS, None)
        if not ids:
            return text
        pairs = " ".join(f"{k}={v}" for k, v in ids.items())
        head, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{head} {pairs}{newline}{rest}"


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if settings.log_json else PlainLines())
    handler.addFilter(WithIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper() if settings.log_level != "trace" else "DEBUG")
