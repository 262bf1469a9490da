"""Versions of installed distributions (``/info``, the MCP and A2A server cards, the
``workers`` rows), read once per process: ``importlib.metadata`` walks every installed
distribution on each call, about 1 ms each after an idle gap."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def installed(dist: str) -> str | None:
    """The version of ``dist`` (``"turnstile"``, ``"langgraph"``), None when not installed."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None
