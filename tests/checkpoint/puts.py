"""Putting a checkpoint through a saver in one line, for tests that need a few of them."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.conformance.test_utils import generate_checkpoint, generate_metadata

from app.checkpoint import PostgresSaver


async def put(
    saver: PostgresSaver,
    config: Any,
    values: dict[str, Any],
    versions: dict[str, str],
    *,
    source: str = "loop",
    step: int = 0,
) -> Any:
    """A checkpoint of ``values`` at ``versions`` (all of them new) after ``config``; its
    config."""
    return await saver.aput(
        config,
        generate_checkpoint(channel_values=values, channel_versions=versions),
        generate_metadata(source=source, step=step),
        versions,
    )
