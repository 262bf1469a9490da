"""PostgresSaver against the langgraph-checkpoint-conformance suite, every capability.

Each capability runs on its own freshly migrated database; a capability that is not
detected (method not overridden), skipped, or has any failing test fails its test here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import asyncpg
import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import (
    ALL_CAPABILITIES,
    Capability,
    DetectedCapabilities,
)
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from app.checkpoint import PostgresSaver


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


async def test_every_capability_is_implemented(pool: asyncpg.Pool) -> None:
    detected = DetectedCapabilities.from_instance(PostgresSaver(pool))
    assert detected.missing == frozenset()
    assert detected.detected == ALL_CAPABILITIES


@pytest.mark.parametrize("capability", sorted(Capability, key=lambda c: c.value), ids=str)
async def test_conformance(pool: asyncpg.Pool, capability: Capability) -> None:
    @checkpointer_test(name=f"PostgresSaver[{capability.value}]")
    async def factory() -> AsyncGenerator[PostgresSaver, None]:
        yield PostgresSaver(pool)

    failures: list[str] = []

    def on_result(cap: str, test: str, passed: bool, error: str | None) -> None:
        if not passed:
            failures.append(f"{cap}.{test}:\n{error}")

    report = await validate(
        factory,
        capabilities={capability.value},
        progress=ProgressCallbacks(on_test_result=on_result),
    )
    result = report.results[capability.value]
    assert result.detected, f"{capability.value} not detected"
    assert not failures, "\n".join(failures)
    assert result.passed is True, result
    assert result.tests_failed == 0
    assert result.tests_skipped == 0
    assert result.tests_passed > 0
