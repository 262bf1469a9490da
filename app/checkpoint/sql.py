"""SQL of the checkpoint saver, one statement per operation.

Every write is a single statement (data-modifying CTEs where several tables change), so each
is atomic on its own and costs one round trip without an explicit transaction. The functions
take an ``Executor`` (an asyncpg pool or connection).

Checkpoints, blobs and pending writes are written by one text, ``upsert``, which holds the
conflict rules: the saver's own writes run it unguarded (``PUT``), and the batches a run's
writer commits (``app.db.run_batch``) run it guarded by the run's lease, with the run's
stream events, in the same statement.

JSON is sent as text (``::jsonb`` in the statement) and read as ``::text`` so the statements
do not depend on the JSON codecs a pool's owner may have registered.
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

TUPLE_COLUMNS = (
    "thread_id",
    "checkpoint_ns",
    "checkpoint_id",
    "parent_checkpoint_id",
    "checkpoint",
    "metadata",
    "blob_channels",
    "blob_types",
    "blob_values",
    "write_task_ids",
    "write_channels",
    "write_types",
    "write_values",
)
"""The columns of ``SELECT_TUPLES`` (what ``rows.to_tuple`` reads)."""


def latest_root(thread: str, prefix: str) -> tuple[str, str]:
    """(select list, LEFT JOIN LATERAL clause) adding the newest root checkpoint of thread
    ``thread`` (an SQL expression of text type) to a statement's rows, as ``GET_LATEST``
    reads it, its columns named ``prefix`` + ``TUPLE_COLUMNS`` (NULL when the thread has
    none): the claim reads each run's starting checkpoint this way (``app.db.runs.claim``)."""
    columns = ", ".join(f"{prefix}.{name} AS {prefix}_{name}" for name in TUPLE_COLUMNS)
    lateral = (
        f"LEFT JOIN LATERAL ({SELECT_TUPLES} WHERE c.thread_id = {thread} "
        f"AND c.checkpoint_ns = '' ORDER BY c.checkpoint_id DESC LIMIT 1) {prefix} ON true"
    )
    return columns, lateral


LIST_ORDER = " ORDER BY c.checkpoint_id DESC, c.thread_id DESC, c.checkpoint_ns DESC"


# --- writes -----------------------------------------------------------------------------

BlobRow = tuple[str, str, str, str, str, bytes | None]
"""(thread, ns, channel, version, type, blob)."""
CheckpointKey = tuple[str, str, str]
"""(thread, ns, checkpoint id)."""
CheckpointRow = tuple[str | None, str | None, str, str]
"""(parent checkpoint id, run id, document JSON, metadata JSON)."""
WriteKey = tuple[str, str, str, str, int]
"""(thread, ns, checkpoint id, task id, idx)."""
WriteRow = tuple[str, str | None, str, str, bytes]
"""(task path, run id, channel, type, blob)."""


def upsert(first: int, guard: str | None = None) -> str:
    """The CTEs ``new_blobs``, ``new_checkpoints``, ``new_writes`` writing rows given as
    parallel arrays, from parameter ``$first`` on, in the order of ``upsert_args``; with a
    ``guard`` (an SQL condition), only if it holds. The one text of the conflict rules:

    * a blob that exists already is left alone: (channel, version) names one value;
    * a re-put checkpoint id replaces its document, metadata, parent and run id;
    * a regular write (idx >= 0) keeps the first value stored for (task, idx), so a retried
      task does not duplicate or change it; a special one (idx < 0: error, interrupt,
      resume, ...) is replaced.
    """
    p = [f"${first + i}" for i in range(23)]
    where = "" if guard is None else f"\n     WHERE {guard}"
    return f"""new_blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT b.thread_id, b.ns, b.channel, b.version, b.type, b.blob
      FROM unnest({p[0]}::text[], {p[1]}::text[], {p[2]}::text[], {p[3]}::text[],
                  {p[4]}::text[], {p[5]}::bytea[])
           AS b(thread_id, ns, channel, version, type, blob){where}
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
),
new_checkpoints AS (
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
                             run_id, checkpoint, metadata)
    SELECT c.thread_id, c.ns, c.id, c.parent, c.run_id, c.doc::jsonb, c.meta::jsonb
      FROM unnest({p[6]}::text[], {p[7]}::text[], {p[8]}::text[], {p[9]}::text[],
                  {p[10]}::text[], {p[11]}::text[], {p[12]}::text[])
           AS c(thread_id, ns, id, parent, run_id, doc, meta){where}
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
    SET parent_checkpoint_id = EXCLUDED.parent_checkpoint_id, run_id = EXCLUDED.run_id,
        checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
),
new_writes AS (
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id,
                                   task_path, run_id, idx, channel, type, blob)
    SELECT w.thread_id, w.ns, w.checkpoint_id, w.task_id, w.task_path, w.run_id, w.idx,
           w.channel, w.type, w.blob
      FROM unnest({p[13]}::text[], {p[14]}::text[], {p[15]}::text[], {p[16]}::text[],
                  {p[17]}::text[], {p[18]}::text[], {p[19]}::int[], {p[20]}::text[],
                  {p[21]}::text[], {p[22]}::bytea[])
           AS w(thread_id, ns, checkpoint_id, task_id, task_path, run_id, idx, channel,
                type, blob){where}
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO UPDATE
    SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob,
        task_path = EXCLUDED.task_path, run_id = EXCLUDED.run_id
    WHERE checkpoint_writes.idx < 0
)"""


PUT = "WITH " + upsert(1) + "\nSELECT 1"


def add_write(writes: dict[WriteKey, WriteRow], key: WriteKey, row: WriteRow) -> None:
    """Add a write to rows about to be written in one statement, by the rule ``upsert``
    applies to stored rows (PostgreSQL cannot update one row twice in a statement)."""
    if key[4] >= 0 and key in writes:
        return  # a regular write keeps its first value
    writes[key] = row


def upsert_args(
    blobs: Sequence[BlobRow],
    checkpoints: dict[CheckpointKey, CheckpointRow],
    writes: dict[WriteKey, WriteRow],
) -> list[list[Any]]:
    """The 23 array parameters of ``upsert``."""
    cps = [(*key, *row) for key, row in checkpoints.items()]
    ws = [(*key[:4], row[0], row[1], key[4], *row[2:]) for key, row in writes.items()]
    return [*_columns(blobs, 6), *_columns(cps, 7), *_columns(ws, 10)]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` parallel lists (one per unnest argument)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


async def put(
    db: Executor,
    *,
    blobs: Sequence[BlobRow] = (),
    checkpoints: dict[CheckpointKey, CheckpointRow] | None = None,
    writes: dict[WriteKey, WriteRow] | None = None,
) -> None:
    """Insert checkpoints, their changed channels' blobs and pending writes in one
    statement, by the conflict rules of ``upsert``."""
    await db.execute(PUT, *upsert_args(blobs, checkpoints or {}, writes or {}))


class LeaseLost(Exception):
    """A run's writes found that its lease is no longer this worker's (app.worker.writer)."""


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

# A thread's checkpoints, blobs and writes, copied to another thread id ($2). ``{conflict}``
# and ``{returning}``: the saver's copy may meet rows already there (LangGraph's contract)
# and answers counts; ``threads.copy`` writes a thread id nobody has yet, and a plain insert
# skips the speculative-insertion protocol (about a third of the copy's time at 10k
# checkpoints, bench/growth.py).
_COPY = """
WITH cps AS (
    INSERT INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint, metadata)
    SELECT $2, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, checkpoint,
           CASE WHEN $3 AND metadata ? 'thread_id'
                THEN jsonb_set(metadata, '{{thread_id}}', to_jsonb($2::text)) ELSE metadata END
    FROM checkpoints WHERE thread_id = $1
    {conflict}{returning}
),
blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT $2, checkpoint_ns, channel, version, type, blob
    FROM checkpoint_blobs WHERE thread_id = $1
    {conflict}{returning}
),
writes AS (
    INSERT INTO checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel, type, blob)
    SELECT $2, checkpoint_ns, checkpoint_id, task_id, task_path, run_id, idx, channel, type, blob
    FROM checkpoint_writes WHERE thread_id = $1
    {conflict}{returning}
)
"""
COPY_THREAD = (
    _COPY.format(conflict="ON CONFLICT DO NOTHING", returning=" RETURNING 1")
    + """SELECT (SELECT count(*) FROM cps) AS checkpoints,
       (SELECT count(*) FROM writes) AS writes,
       (SELECT count(*) FROM blobs) AS blobs
"""
)
COPY_TO_NEW_THREAD = _COPY.format(conflict="", returning="") + "SELECT 1"


async def delete_threads(db: Executor, thread_ids: Sequence[str]) -> None:
    await db.execute(DELETE_THREADS, list(thread_ids))


async def delete_for_runs(
    db: Executor, run_ids: Sequence[str], thread_id: str | None = None
) -> dict[str, int]:
    return await _counts(db, DELETE_FOR_RUNS, list(run_ids), thread_id)


async def prune_keep_latest(db: Executor, thread_ids: Sequence[str]) -> dict[str, int]:
    return await _counts(db, PRUNE_KEEP_LATEST, list(thread_ids))


async def copy_thread(db: Executor, source: str, target: str) -> dict[str, int]:
    """Copy a thread's checkpoints, blobs and writes as they are (the saver's
    ``copy_thread``: LangGraph's checkpointer contract); rows already there are kept."""
    return await _counts(db, COPY_THREAD, source, target, False)


async def copy_to_new_thread(db: Executor, source: str, target: str) -> None:
    """``threads.copy``: the same rows for a thread id that has none yet, their metadata
    naming the target thread (as the reference)."""
    await db.execute(COPY_TO_NEW_THREAD, source, target, True)


async def _counts(db: Executor, query: str, *args: Any) -> dict[str, int]:
    """Run a statement answering one row of counts (checkpoints, writes, blobs)."""
    return dict(await db.fetchrow(query, *args))
