"""The outcome a finish writes comes from the run's final state, whatever this attempt put:
a run resumed from a committed checkpoint that stops at an ``interrupt()`` before putting a
checkpoint of its own (its interrupt is a pending write only) still ends with that
interrupt in its output and on its thread."""

from __future__ import annotations

from app.core.access import Access, Caller
from app.core.runs import RunCreate
from tests.worker.conftest import House

QUESTION = {"question": "continue?"}  # tests/graphs/steps.py ``ask``


async def test_a_resumed_run_interrupted_before_any_checkpoint_of_its_own(house: House) -> None:
    tid, first = await house.create_run("ask", input={"label": "q"}, interrupt_before=["ask"])
    async with house.workers():
        await house.wait_for_run(first, lambda r: r["status"] == "success", "stopped")
        thread = await house.thread(tid)
        assert (thread["status"], thread["interrupts"]) == ("interrupted", {})  # before it
        # Continue from that checkpoint: the node runs and stops at its interrupt().
        run = await house.runs.create(Access(), Caller(), tid, RunCreate(assistant_id="ask"))
        second = run.run_id
        row = await house.wait_for_run(second, lambda r: r["status"] == "success", "asked")
    assert [i["value"] for i in row["output"]["__interrupt__"]] == [QUESTION]
    thread = await house.thread(tid)
    assert thread["status"] == "interrupted"
    assert [i["value"] for items in thread["interrupts"].values() for i in items] == [QUESTION]
