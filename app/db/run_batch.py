"""One fenced statement writing what a run produced since the last one: checkpoints, their
channel blobs, pending writes of tasks, and stream events (DESIGN §6: batched checkpoint
writes per superstep; I4: fenced).

A worker's ``RunWriter`` collects these while the graph runs and writes them whenever no
write is in flight, so a fast graph's several supersteps share one statement and one
commit. Everything in a batch is written only while the run is ``running`` under the
writer's lease (epoch and token; ``FOR SHARE`` on the run row holds off a takeover until the commit);
a worker that lost its lease writes nothing and learns it from ``held``.

Conflict rules are the checkpoint saver's (app/checkpoint/sql.py): a re-put checkpoint id
replaces its document; existing blobs are kept; a regular write keeps the first value
stored for (task, idx), a special one (negative idx) is replaced. Duplicates inside one
batch are resolved here first, as PostgreSQL cannot update one row twice in a statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from app.db.events import events_payload
from app.db.notify import RUN_EVENTS
from app.db.types import Conn


@dataclass
class Batch:
    """Rows to write, as parallel lists (one entry per row)."""

    checkpoints: dict[tuple[str, str, str], tuple[str | None, str | None, str, str]] = field(
        default_factory=dict
    )
    """(thread, ns, checkpoint id) -> (parent id, run id, document JSON, metadata JSON)."""
    blobs: list[tuple[str, str, str, str, str, bytes | None]] = field(default_factory=list)
    """(thread, ns, channel, version, type, blob)."""
    writes: dict[tuple[str, str, str, str, int], tuple[str, str | None, str, str, bytes]] = field(
        default_factory=dict
    )
    """(thread, ns, checkpoint id, task id, idx) -> (task path, run id, channel, type, blob)."""
    events: list[tuple[str, str]] = field(default_factory=list)
    """(event name, data JSON), in order."""

    def __bool__(self) -> bool:
        return bool(self.checkpoints or self.blobs or self.writes or self.events)

    def add_write(
        self, key: tuple[str, str, str, str, int], row: tuple[str, str | None, str, str, bytes]
    ) -> None:
        if key[4] >= 0 and key in self.writes:
            return  # a regular write keeps its first value
        self.writes[key] = row

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
new_blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT b.thread_id, b.ns, b.channel, b.version, b.type, b.blob
      FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[])
           AS b(thread_id, ns, channel, version, type, blob)
     WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
),
new_checkpoints AS (
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
                             run_id, checkpoint, metadata)
    SELECT c.thread_id, c.ns, c.id, c.parent, c.run_id, c.doc::jsonb, c.meta::jsonb
      FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                  $14::text[], $15::text[]) AS c(thread_id, ns, id, parent, run_id, doc, meta)
     WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
    SET parent_checkpoint_id = EXCLUDED.parent_checkpoint_id, run_id = EXCLUDED.run_id,
        checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
),
new_writes AS (
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,
                                   task_path, run_id, idx, channel, type, blob)
    SELECT w.thread_id, w.ns, w.checkpoint_id, w.task_id, w.task_path, w.run_id, w.idx,
           w.channel, w.type, w.blob
      FROM unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
                  $21::text[], $22::int[], $23::text[], $24::text[], $25::bytea[])
           AS w(thread_id, ns, checkpoint_id, task_id, task_path, run_id, idx, channel,
                type, blob)
     WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE
    SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
        task_path = EXCLUDED.task_path, run_id = EXCLUDED.run_id
    WHERE checkpoint_writes.idx < 0
),
new_events AS (
    INSERT INTO run_events (run_id, thread_id, event, data)
    SELECT $1, $26, e.event, e.data::json
      FROM unnest($27::text[], $28::text[]) WITH ORDINALITY AS e(event, data, n)
     WHERE EXISTS (SELECT 1 FROM lease)
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
) -> bool:
    """Write ``batch`` while ``run_id`` holds the lease (``epoch``, ``token``) of the
    writer's attempt; False (nothing written) if it does not."""
    checkpoints = [(*key, *row) for key, row in batch.checkpoints.items()]
    writes = [(*key[:4], row[0], row[1], key[4], *row[2:]) for key, row in batch.writes.items()]
    args: list[Any] = [run_id, epoch]
    args += _columns(batch.blobs, 6)
    args += _columns(checkpoints, 7)
    args += _columns(writes, 10)
    args += [thread_id, [e for e, _ in batch.events], [d for _, d in batch.events]]
    args.append(events_payload(run_id, thread_id))
    args.append(token)
    row = await conn.fetchrow(STATEMENT, *args)
    return bool(row is not None and row["held"])


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` parallel lists (one per unnest argument)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
