"""One fenced statement writing what a run produced since the last one: checkpoints, their
channel blobs, pending writes of tasks, and stream events (DESIGN §6: batched checkpoint
writes per superstep; I4: fenced).

A worker's ``RunWriter`` collects these while the graph runs and writes them whenever no
write is in flight, so a fast graph's several supersteps share one statement and one
commit. Everything in a batch is written only while the run is ``running`` under the
writer's lease (epoch and token; ``FOR SHARE`` on the run row holds off a takeover until the commit);
a worker that lost its lease writes nothing and learns it from ``held``.

The checkpoint rows are written by the saver's own text (``app.checkpoint.sql.upsert``,
which holds the conflict rules: existing blobs are kept, a re-put checkpoint id replaces its
document, a regular write keeps the first value stored for (task, idx), a special one is
replaced), guarded by the lease; duplicates inside one batch are resolved by the same rule
(``sql.add_write``) before, as PostgreSQL cannot update one row twice in a statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.checkpoint import sql
from app.db.events import events_payload, watched_sql
from app.db.notify import RUN_EVENTS
from app.db.types import Conn


@dataclass
class Batch:
    """Rows to write, as ``app.checkpoint.sql.upsert_args`` takes them, and events."""

    checkpoints: dict[sql.CheckpointKey, sql.CheckpointRow] = field(default_factory=dict)
    blobs: list[sql.BlobRow] = field(default_factory=list)
    writes: dict[sql.WriteKey, sql.WriteRow] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)
    """(event name, data JSON), in order."""

    def __bool__(self) -> bool:
        return bool(self.checkpoints or self.blobs or self.writes or self.events)

    def add_write(self, key: sql.WriteKey, row: sql.WriteRow) -> None:
        sql.add_write(self.writes, key, row)

    @property
    def has_state(self) -> bool:
        """Whether the batch holds checkpoint data (not only events)."""
        return bool(self.checkpoints or self.blobs or self.writes)


STATEMENT = f"""
WITH lease AS (
    SELECT 1 FROM runs WHERE run_id = $1 AND lease_epoch = $2 AND lease_token = $30
       AND status = 'running'
    FOR SHARE
),
{sql.upsert(3, guard="EXISTS (SELECT 1 FROM lease)")},
new_events AS (
    INSERT INTO run_events (run_id, thread_id, event, data)
    SELECT $1, $26, e.event, e.data::json
      FROM unnest($27::text[], $28::text[]) WITH ORDINALITY AS e(event, data, n)
     WHERE EXISTS (SELECT 1 FROM lease) AND (NOT $31 OR {watched_sql("$1", "$26")})
     ORDER BY e.n
    RETURNING 1
),
ping AS (
    SELECT pg_notify('{RUN_EVENTS}', $29)
     WHERE EXISTS (SELECT 1 FROM new_events)
)
SELECT (SELECT count(*) FROM lease) > 0 AS held, (SELECT count(*) FROM ping) AS notified
"""


async def write(
    conn: Conn,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    epoch: int,
    token: uuid.UUID,
    batch: Batch,
    *,
    when_watched: bool = False,
) -> bool:
    """Write ``batch`` while ``run_id`` holds the lease (``epoch``, ``token``) of the
    writer's attempt; False (nothing written) if it does not. ``when_watched``: its events
    only if somebody reads the run or its thread live (``stream_watchers``)."""
    args: list[Any] = [run_id, epoch]
    args += sql.upsert_args(batch.blobs, batch.checkpoints, batch.writes)
    args += [thread_id, [e for e, _ in batch.events], [d for _, d in batch.events]]
    args.append(events_payload(run_id, thread_id))
    args += [token, when_watched]
    row = await conn.fetchrow(STATEMENT, *args)
    return bool(row is not None and row["held"])
