"""The A2A agent card of an assistant (``/.well-known/agent-card.json``): who it is, where
it answers (JSON-RPC, protocol 1.0; the 0.3 method names are served as well), what it
takes. Fields as the reference server fills them."""

from __future__ import annotations

from typing import Any

from app.core import wire
from app.core.versions import installed
from app.services.a2a_shapes import MODES
from app.services.mcp import takes_messages


def card(assistant: wire.Assistant, schema: Any, base_url: str) -> dict[str, Any]:
    """The card; ``schema`` is the graph's input schema, ``base_url`` this server's."""
    aid = str(assistant.assistant_id)
    name = str(assistant.name)
    description = assistant.description
    if not isinstance(description, str) or not description:
        description = f"{name} assistant"
    url = f"{base_url.rstrip('/')}/a2a/{aid}"
    properties = (schema or {}).get("properties") if isinstance(schema, dict) else None
    required = (schema or {}).get("required") if isinstance(schema, dict) else None
    return {
        "name": name,
        "description": description,
        "url": url,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "capabilities": {
            "streaming": True,
            "pushNotifications": False,
            "stateTransitionHistory": False,
        },
        "defaultInputModes": list(MODES),
        "defaultOutputModes": list(MODES),
        "skills": [
            {
                "id": f"{aid}-main",
                "name": f"{name} Capabilities",
                "description": description,
                "tags": ["assistant", "langgraph"],
                "examples": [],
                "inputModes": list(MODES),
                "outputModes": list(MODES),
                "metadata": {
                    "inputSchema": {
                        "required": list(required or []),
                        "properties": sorted(properties or {}),
                        "supportsA2A": takes_messages(schema),
                    }
                },
            }
        ],
        "version": installed("turnstile") or "0",
    }
