"""SQL of the checkpoint saver, one statement per operation.

Every write is a single statement (data-modifying CTEs where several tables change), so each
is atomic on its own and costs one round trip without an explicit transaction. The write
functions take an ``Executor`` (an asyncpg pool or connection): a caller that must fence the
write (e.g. by a run's lease epoch) can run them on a connection inside its own transaction,
or a later version can add the fence predicate here, in one place.

JSONB is sent as ``$n::text::jsonb`` and read as ``::text`` so the statements do not depend on
the JSON codecs a pool's owner may have registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Executor(Protocol):
    """What the statements need: an ``asyncpg.Pool`` or ``asyncpg.Connection``."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any) -> Any: ...


# --- reads ------------------------------------------------------------------------------

# One row per checkpoint with its channel values (blobs named by channel_versions) and its
# pending writes (in writes_sort_key order) aggregated into parallel arrays.
SELECT_TUPLES = """
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
       c.checkpoint::text AS checkpoint, c.metadata::text AS metadata,
       bl.channels AS blob_channels, bl.types AS blob_types, bl.blobs AS blob_values,
       wr.task_ids AS write_task_ids, wr.channels AS write_channels,
       wr.types AS write_types, wr.blobs AS write_values
FROM checkpoints c
CROSS JOIN LATERAL (
    SELECT array_agg(b.channel) AS channels, array_agg(b.type) AS types,
           array_agg(b.blob) AS blobs
    FROM jsonb_each_text(c.checkpoint -> 'channel_versions') AS v(channel, version)
    CROSS JOIN LATERAL (
        -- LIMIT 1 (the key is unique anyway) keeps this a primary-key probe per channel
        -- instead of a join the planner may turn into a scan of the thread's blobs.
        SELECT b.channel, b.type, b.blob
        FROM checkpoint_blobs b
        WHERE b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
          AND b.channel = v.channel AND b.version = v.version AND b.type <> 'empty'
        LIMIT 1
    ) b
) bl
CROSS JOIN LATERAL (
    SELECT array_agg(w.task_id ORDER BY w.task_path, w.task_id, w.idx) AS task_ids,
           array_agg(w.channel ORDER BY w.task_path, w.task_id, w.idx) AS channels,
           array_agg(w.type ORDER BY w.task_path, w.task_id, w.idx) AS types,
           array_agg(w.blob ORDER BY w.task_path, w.task_id, w.idx) AS blobs
    FROM checkpoint_writes w
    WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
      AND w.checkpoint_id = c.checkpoint_id
) wr
"""

GET_BY_ID = (
    SELECT_TUPLES + "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 AND c.checkpoint_id = $3"
)

GET_LATEST = (
    SELECT_TUPLES
    + "WHERE c.thread_id = $1 AND c.checkpoint_ns = $2 ORDER BY c.checkpoint_id DESC LIMIT 1"
)

LIST_ORDER = " ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC"


# --- writes -----------------------------------------------------------------------------

# Blobs of the channels that changed, then the checkpoint, in one statement. A blob that
# exists already is left alone: (channel, version) names one value.
PUT_CHECKPOINT = """
WITH new_blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT $1, $2, b.channel, b.version, b.type, b.blob
    FROM unnest($8::text[], $9::text[], $10::text[], $11::bytea[])
         AS b(channel, version, type, blob)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
)
INSERT INTO checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint, metadata)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
SET parent_checkpoint_id = EXCLUDED.parent_checkpoint_id,
    run_id = EXCLUDED.run_id,
    checkpoint = EXCLUDED.checkpoint,
    metadata = EXCLUDED.metadata
"""

# Regular writes (idx >= 0) are first-writer-wins, so a retried task does not duplicate or
# change them; special writes (idx < 0: error, interrupt, resume...) are replaced.
PUT_WRITES = """
INSERT INTO checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel, type, blob)
SELECT $1, $2, $3, $4, $5, $6, w.idx, w.channel, w.type, w.blob
FROM unnest($7::int[], $8::text[], $9::text[], $10::bytea[]) AS w(idx, channel, type, blob)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE
SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
    task_path = EXCLUDED.task_path, run_id = EXCLUDED.run_id
WHERE checkpoint_writes.idx < 0
"""

# The same writes fenced by a run's lease (DESIGN I4): they happen only while run $X holds
# lease epoch $Y with lease token $Z (random per claim: the epoch alone can repeat if
# PostgreSQL loses its last transactions) and is running. ``FOR SHARE`` holds the run row until the write commits, so
# a takeover (which updates that row) cannot slip in between the check and the write; a
# worker that lost its lease writes nothing and learns it from the row count.
_LEASE = """lease AS (
    SELECT 1 FROM runs WHERE run_id = ${run}::uuid AND lease_epoch = ${epoch}
       AND lease_token = ${token}::uuid AND status = 'running'
    FOR SHARE
)"""

PUT_CHECKPOINT_FENCED = (
    "WITH "
    + _LEASE.format(run=12, epoch=13, token=14)
    + """,
new_blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT $1, $2, b.channel, b.version, b.type, b.blob
    FROM unnest($8::text[], $9::text[], $10::text[], $11::bytea[])
         AS b(channel, version, type, blob)
    WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
),
cp AS (
    INSERT INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint,
         metadata)
    SELECT $1, $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb
    WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
    SET parent_checkpoint_id = EXCLUDED.parent_checkpoint_id,
        run_id = EXCLUDED.run_id,
        checkpoint = EXCLUDED.checkpoint,
        metadata = EXCLUDED.metadata
    RETURNING 1
)
SELECT (SELECT count(*) FROM lease) AS held
"""
)

PUT_WRITES_FENCED = (
    "WITH "
    + _LEASE.format(run=11, epoch=12, token=13)
    + """,
w AS (
    INSERT INTO checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel,
         type, blob)
    SELECT $1, $2, $3, $4, $5, $6, w.idx, w.channel, w.type, w.blob
    FROM unnest($7::int[], $8::text[], $9::text[], $10::bytea[]) AS w(idx, channel, type, blob)
    WHERE EXISTS (SELECT 1 FROM lease)
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE
    SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
        task_path = EXCLUDED.task_path, run_id = EXCLUDED.run_id
    WHERE checkpoint_writes.idx < 0
)
SELECT (SELECT count(*) FROM lease) AS held
"""
)


class LeaseLost(Exception):
    """A fenced write found that the run's lease is no longer this worker's."""


Fence = tuple[str, int, str]
"""(run id, lease epoch, lease token) a write is conditional on."""

DELETE_THREADS = """
WITH w AS (DELETE FROM checkpoint_writes WHERE thread_id = ANY($1::text[])),
     b AS (DELETE FROM checkpoint_blobs WHERE thread_id = ANY($1::text[]))
DELETE FROM checkpoints WHERE thread_id = ANY($1::text[])
"""

# Deleting checkpoints (the ``doomed`` CTE, defined by the statement that includes this) also
# deletes their writes and the blobs no surviving checkpoint of the same thread and
# namespace names. The blob sweep trusts that nothing writes those threads meanwhile: a
# checkpoint inserted concurrently that names an old blob version is not seen by it.
_SWEEP = """
doomed_writes AS (
    DELETE FROM checkpoint_writes w
    USING doomed d
    WHERE w.thread_id = d.thread_id AND w.checkpoint_ns = d.checkpoint_ns
      AND w.checkpoint_id = d.checkpoint_id
    RETURNING 1
),
affected AS (SELECT DISTINCT thread_id, checkpoint_ns FROM doomed),
live AS (
    SELECT c.thread_id, c.checkpoint_ns, v.channel, v.version
    FROM checkpoints c
    JOIN affected a ON a.thread_id = c.thread_id AND a.checkpoint_ns = c.checkpoint_ns
    CROSS JOIN LATERAL jsonb_each_text(c.checkpoint -> 'channel_versions') AS v(channel, version)
    WHERE NOT EXISTS (
        SELECT 1 FROM doomed d
        WHERE d.thread_id = c.thread_id AND d.checkpoint_ns = c.checkpoint_ns
          AND d.checkpoint_id = c.checkpoint_id
    )
),
doomed_blobs AS (
    DELETE FROM checkpoint_blobs b
    USING affected a
    WHERE b.thread_id = a.thread_id AND b.checkpoint_ns = a.checkpoint_ns
      AND NOT EXISTS (
          SELECT 1 FROM live l
          WHERE l.thread_id = b.thread_id AND l.checkpoint_ns = b.checkpoint_ns
            AND l.channel = b.channel AND l.version = b.version
      )
    RETURNING 1
)
SELECT (SELECT count(*) FROM doomed) AS checkpoints,
       (SELECT count(*) FROM doomed_writes) AS writes,
       (SELECT count(*) FROM doomed_blobs) AS blobs
"""

# $1: run ids; $2: optional thread id scope. Also deletes writes the runs made on other
# runs' checkpoints (e.g. a resume value on the interrupted checkpoint of the run before).
DELETE_FOR_RUNS = (
    """
WITH doomed AS (
    DELETE FROM checkpoints
    WHERE run_id = ANY($1::text[]) AND ($2::text IS NULL OR thread_id = $2::text)
    RETURNING thread_id, checkpoint_ns, checkpoint_id
),
run_writes AS (
    DELETE FROM checkpoint_writes
    WHERE run_id = ANY($1::text[]) AND ($2::text IS NULL OR thread_id = $2::text)
),
"""
    + _SWEEP
)

# Keep the latest checkpoint of each (thread, namespace); also drops writes attached to
# older checkpoint ids.
PRUNE_KEEP_LATEST = (
    """
WITH latest AS (
    SELECT DISTINCT ON (thread_id, checkpoint_ns) thread_id, checkpoint_ns, checkpoint_id
    FROM checkpoints
    WHERE thread_id = ANY($1::text[])
    ORDER BY thread_id, checkpoint_ns, checkpoint_id DESC
),
doomed AS (
    DELETE FROM checkpoints c
    USING latest l
    WHERE c.thread_id = ANY($1::text[])
      AND c.thread_id = l.thread_id AND c.checkpoint_ns = l.checkpoint_ns
      AND c.checkpoint_id < l.checkpoint_id
    RETURNING c.thread_id, c.checkpoint_ns, c.checkpoint_id
),
stale_writes AS (
    DELETE FROM checkpoint_writes w
    USING latest l
    WHERE w.thread_id = ANY($1::text[])
      AND w.thread_id = l.thread_id AND w.checkpoint_ns = l.checkpoint_ns
      AND w.checkpoint_id < l.checkpoint_id
),
"""
    + _SWEEP
)

COPY_THREAD = """
WITH cps AS (
    INSERT INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint, metadata)
    SELECT $2, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint, metadata
    FROM checkpoints WHERE thread_id = $1
    ON CONFLICT DO NOTHING
    RETURNING 1
),
blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT $2, checkpoint_ns, channel, version, type, blob
    FROM checkpoint_blobs WHERE thread_id = $1
    ON CONFLICT DO NOTHING
    RETURNING 1
),
writes AS (
    INSERT INTO checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel, type, blob)
    SELECT $2, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel, type, blob
    FROM checkpoint_writes WHERE thread_id = $1
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM cps) AS checkpoints,
       (SELECT count(*) FROM writes) AS writes,
       (SELECT count(*) FROM blobs) AS blobs
"""


async def put_checkpoint(
    db: Executor,
    *,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str,
    parent_checkpoint_id: str | None,
    run_id: str | None,
    checkpoint_json: str,
    metadata_json: str,
    blob_channels: Sequence[str],
    blob_versions: Sequence[str],
    blob_types: Sequence[str],
    blob_values: Sequence[bytes | None],
    fence: Fence | None = None,
) -> None:
    """Insert (or replace) one checkpoint and the blobs of its changed channels; with a
    ``fence``, only while that run holds that lease (else LeaseLost)."""
    args: list[Any] = [
        thread_id,
        checkpoint_ns,
        checkpoint_id,
        parent_checkpoint_id,
        run_id,
        checkpoint_json,
        metadata_json,
        blob_channels,
        blob_versions,
        blob_types,
        blob_values,
    ]
    if fence is None:
        await db.execute(PUT_CHECKPOINT, *args)
    elif not (await db.fetchrow(PUT_CHECKPOINT_FENCED, *args, *fence))["held"]:
        raise LeaseLost(f"run {fence[0]} lost lease epoch {fence[1]}")


async def put_writes(
    db: Executor,
    *,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str,
    task_id: str,
    task_path: str,
    run_id: str | None,
    idxs: Sequence[int],
    channels: Sequence[str],
    types: Sequence[str],
    values: Sequence[bytes],
    fence: Fence | None = None,
) -> None:
    """Insert one task's writes on a checkpoint (see PUT_WRITES for conflict rules); with a
    ``fence``, only while that run holds that lease (else LeaseLost)."""
    args: list[Any] = [thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, run_id]
    args += [idxs, channels, types, values]
    if fence is None:
        await db.execute(PUT_WRITES, *args)
    elif not (await db.fetchrow(PUT_WRITES_FENCED, *args, *fence))["held"]:
        raise LeaseLost(f"run {fence[0]} lost lease epoch {fence[1]}")


async def delete_threads(db: Executor, thread_ids: Sequence[str]) -> None:
    await db.execute(DELETE_THREADS, list(thread_ids))


async def delete_for_runs(
    db: Executor, run_ids: Sequence[str], thread_id: str | None = None
) -> dict[str, int]:
    row = await db.fetchrow(DELETE_FOR_RUNS, list(run_ids), thread_id)
    return dict(row)


async def prune_keep_latest(db: Executor, thread_ids: Sequence[str]) -> dict[str, int]:
    row = await db.fetchrow(PRUNE_KEEP_LATEST, list(thread_ids))
    return dict(row)


async def copy_thread(db: Executor, source: str, target: str) -> dict[str, int]:
    row = await db.fetchrow(COPY_THREAD, source, target)
    return dict(row)
