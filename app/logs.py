"""Logging for the commands: plain lines, or one JSON object per line (``LOG_JSON``), at
``LOG_LEVEL``, for every logger (uvicorn's included)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from app.settings import Settings


class JsonLines(logging.Formatter):
    """``LOG_JSON=true``: each record as one JSON object (time, level, logger, message,
    and the exception's traceback when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line).decode()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLines()
        if settings.log_json
        else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper() if settings.log_level != "trace" else "DEBUG")
