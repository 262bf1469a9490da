"""A run whose worker died: its expired lease is re-queued and the run claimed again as its
next attempt, until ``max_attempts`` claims were used up (DESIGN I4)."""

from __future__ import annotations

import asyncio
import uuid

from app.db import runs as run_rows
from app.observability import metrics
from tests.worker.conftest import House, until


async def _claim_and_die(house: House, run_id: uuid.UUID) -> None:
    """A worker that is not in the workers table claims the run and dies at once: its
    lease is already expired."""
    async with house.pool.acquire() as conn:
        (claimed,) = await run_rows.claim(conn, "ghost:1:dead", 1, 0)
    assert (claimed["run_id"], claimed["attempt"]) == (run_id, 1)


def _recoveries() -> float:
    """Claims of a later attempt counted in this process (``turnstile_run_claims_total``)."""
    found = metrics.current().registry.get_sample_value(
        "turnstile_run_claims_total", {"attempt": "retry"}
    )
    return found or 0.0


async def test_an_expired_lease_is_claimed_again_as_the_next_attempt(house: House) -> None:
    tid, rid = await house.create_run(input={"label": "x"})
    await _claim_and_die(house, rid)
    recovered = _recoveries()
    async with house.workers(lease_seconds=1.0, max_attempts=3) as workers:
        row = await house.wait_for_run(rid, lambda r: r["status"] == "success", "success")
        assert _recoveries() == recovered + 1  # counted as a recovery
        assert row["attempt"] == 2
        assert row["lease_owner"] is None
        assert row["output"] == {"label": "x", "log": ["x", "done:x"]}
        events = await house.events(rid)
        assert events[0] == ("metadata", {"run_id": str(rid), "attempt": 2})
        assert [e for e, _ in events].count("metadata") == 1  # the dead attempt wrote none
        assert workers.owner != "ghost:1:dead"
    assert (await house.thread(tid))["status"] == "idle"


async def test_a_run_claimed_max_attempts_times_ends_error(house: House) -> None:
    tid, rid = await house.create_run(input={"label": "x"})
    await _claim_and_die(house, rid)
    async with house.workers(lease_seconds=1.0, max_attempts=1):
        row = await house.wait_for_run(rid, lambda r: r["status"] == "error", "error")
    assert row["attempt"] == 2
    assert row["error"] == {
        "error": "AttemptsExhausted",
        "message": "The run was started 1 times and its worker stopped each time (max_attempts=1).",
    }
    assert row["output"] == {"__error__": row["error"]}
    events = await house.events(rid)
    assert [e for e, _ in events] == ["metadata", "error"]
    thread = await house.thread(tid)
    assert thread["status"] == "error"
    assert thread["error"] == row["error"]


async def test_a_lease_taken_over_stops_the_attempt_and_is_counted(house: House) -> None:
    def counted(name: str, **labels: str) -> float:
        return metrics.current().registry.get_sample_value(name, labels) or 0.0

    lost, recovered = counted("turnstile_lease_losses_total"), _recoveries()
    _, rid = await house.create_run(input={"label": "x", "sleep": 2})
    async with house.workers(lease_seconds=1.0, max_attempts=3):
        await house.wait_for_run(rid, lambda r: r["status"] == "running", "running")
        async with house.pool.acquire() as conn:  # what another worker's claim would do
            await conn.execute(
                "UPDATE runs SET lease_owner = 'thief:1:x', lease_epoch = lease_epoch + 1, "
                "lease_token = gen_random_uuid() WHERE run_id = $1",
                rid,
            )
        await until(
            lambda: asyncio.sleep(0, counted("turnstile_lease_losses_total")),
            lambda n: n == lost + 1,
            "the lease loss counted",
        )
        # The thief never renews: the run comes back and its next attempt succeeds.
        row = await house.wait_for_run(rid, lambda r: r["status"] == "success", "success")
    assert row["attempt"] == 2
    assert _recoveries() == recovered + 1
