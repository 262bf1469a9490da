"""The A2A endpoints (API.md §12.2): JSON-RPC at ``POST /a2a/{assistant_id}`` and the agent
cards."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
