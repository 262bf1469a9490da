"""A deterministic embedding for the tests (no model download): each word counts in one of
``DIMS`` buckets (by CRC-32), so texts that share words are similar."""

from __future__ import annotations

import re
import zlib

DIMS = 64


def embed(texts: list[str]) -> list[list[float]]:
    out = []
    for text in texts:
        vector = [0.0] * DIMS
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[zlib.crc32(word.encode()) % DIMS] += 1.0
        out.append(vector)
    return out


async def aembed(texts: list[str]) -> list[list[float]]:
    return embed(texts)


def embed32(texts: list[str]) -> list[list[float]]:
    """The same words in 32 buckets: another model, as far as the stored vectors go."""
    return [v[:32] for v in embed(texts)]
