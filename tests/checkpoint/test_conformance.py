"""PostgresSaver against the langgraph-checkpoint-conformance suite, every capability, both as
the API uses it (plain) and as a run uses it (buffered through its RunWriter).

Each capability runs on its own freshly migrated database; a capability that is not
detected (method not overridden), skipped, or has any failing test fails its test here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

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
from tests.checkpoint.conftest import KINDS, saver_of


async def test_every_capability_is_implemented(pool: asyncpg.Pool) -> None:
    detected = DetectedCapabilities.from_instance(PostgresSaver(pool))
    assert detected.missing == frozenset()
    assert detected.detected == ALL_CAPABILITIES


@pytest.mark.parametrize("capability", sorted(Capability, key=lambda c: c.value), ids=str)
@pytest.mark.parametrize("kind", KINDS)
async def test_conformance(
    pool: asyncpg.Pool, relaxed: asyncpg.Pool, kind: str, capability: Capability
) -> None:
    @checkpointer_test(name=f"PostgresSaver[{kind}, {capability.value}]")
    async def factory() -> AsyncGenerator[PostgresSaver, None]:
        async with saver_of(kind, pool, relaxed) as saver:
            yield saver

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
