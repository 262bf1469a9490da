"""The README's custom-auth example (docs/auth/) as the contract tests use it: its config
and the tokens of its two users."""

from __future__ import annotations

from tests.server import ROOT

AUTH_EXAMPLE = str(ROOT / "docs" / "auth" / "langgraph.json")
ALICE = {"Authorization": "Bearer token-alice"}
BOB = {"Authorization": "Bearer token-bob"}
NO_TOKEN_DELAY = {"TURNSTILE_DEMO_TOKEN_DELAY": "0"}
"""The example's token check sleeps to stand for a remote lookup; not in tests."""
