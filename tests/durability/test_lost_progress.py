"""A run whose committed progress the database lost is re-run from what survived (issue 14).

After a failover to a replica that had not received the last commits (claims and batches
commit with ``synchronous_commit = off``), or a PostgreSQL crash, an attempt may have seen
its checkpoints committed that the database no longer has. Finishing it anyway would report
an outcome the thread's checkpoints do not hold. The finish checks that the attempt's latest
checkpoint is still there; if not, the run is handed back and re-runs from the checkpoint
that survived.

The loss is made exact here: the finishing transaction is held on the thread row lock while
the test deletes the run's latest checkpoint, as a lost commit would have left it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from langgraph_sdk import get_client

from app.db.urls import plain_url
from tests.server import running_server

GRAPHS = str(Path(__file__).resolve().parents[1] / "graphs" / "langgraph.json")

pytestmark = pytest.mark.timeout(120)


async def _finish_waits_on_a_lock(conn: asyncpg.Connection, within: float) -> None:
    deadline = time.monotonic() + within
    while not await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ):
        assert time.monotonic() < deadline, "the finish never reached the thread lock"
        await asyncio.sleep(0.02)


async def test_a_run_whose_latest_checkpoint_was_lost_reruns_from_the_survivor(
    database_url: str,
) -> None:
    with running_server(database_url, config=GRAPHS) as base:
        sdk = get_client(url=base)
        holder = await asyncpg.connect(plain_url(database_url))
        admin = await asyncpg.connect(plain_url(database_url))
        try:
            tid = (await sdk.threads.create())["thread_id"]
            run = await sdk.runs.create(tid, "steps", input={"label": "x", "sleep": 1.0})
            lock = holder.transaction()
            await lock.start()
            await holder.execute(
                "SELECT 1 FROM threads WHERE thread_id = $1 FOR NO KEY UPDATE", tid
            )
            await _finish_waits_on_a_lock(admin, 30)
            # The last batch is lost: the final checkpoint and the writes of the step
            # that made it (recorded against its parent).
            lost = await admin.fetchrow(
                """DELETE FROM checkpoints WHERE thread_id = $1 AND checkpoint_ns = ''
                     AND checkpoint_id = (SELECT max(checkpoint_id) FROM checkpoints
                                           WHERE thread_id = $1 AND checkpoint_ns = '')
                   RETURNING checkpoint_id, parent_checkpoint_id""",
                tid,
            )
            assert lost is not None
            await admin.execute(
                "DELETE FROM checkpoint_writes WHERE thread_id = $1 AND checkpoint_id = $2",
                tid,
                lost["parent_checkpoint_id"],
            )
            await lock.rollback()
            out = await sdk.runs.join(tid, run["run_id"])
            row = await admin.fetchrow(
                "SELECT status, attempt FROM runs WHERE run_id = $1", run["run_id"]
            )
            state = await sdk.threads.get_state(tid)
        finally:
            await holder.close()
            await admin.close()
            await sdk.http.client.aclose()
    assert out["log"] == ["x", "done:x"]
    # What the run reports is what the thread's checkpoints hold: the lost step ran again.
    assert state["values"]["log"] == ["x", "done:x"]
    assert (row["status"], row["attempt"]) == ("success", 2)
