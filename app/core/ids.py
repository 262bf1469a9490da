"""Identifiers: UUID parsing with the reference server's messages, uuid7, system assistant ids."""

from __future__ import annotations

import functools
import os
import time
import uuid

from app.core.errors import InvalidInput

# Namespace of the system assistants: assistant_id = uuid5(NAMESPACE, graph_id) (API.md §1).
SYSTEM_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")


@functools.lru_cache(maxsize=1024)
def system_assistant_id(graph_id: str) -> uuid.UUID:
    """The id of a graph's default assistant (asked on every run create by graph name)."""
    return uuid.uuid5(SYSTEM_ASSISTANT_NAMESPACE, graph_id)


def parse_uuid(value: str, kind: str) -> uuid.UUID:
    """Parse a path or body id; a non-UUID answers 422 ``Invalid <kind> ID: must be a UUID``."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput(f"Invalid {kind} ID: must be a UUID") from None


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= ((rand >> 64) & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return uuid.UUID(int=value)
