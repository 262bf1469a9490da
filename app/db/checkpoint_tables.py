"""Checkpoint tables: the storage of ``app.checkpoint.saver.PostgresSaver``.

Layout (see the saver's module docstring for what each method reads and writes):

* ``checkpoints``: one row per checkpoint, keyed by (thread_id, checkpoint_ns, checkpoint_id).
  The checkpoint document (without its channel values) and the metadata are JSONB.
* ``checkpoint_blobs``: one row per (thread_id, checkpoint_ns, channel, version): a channel's
  serialized value at one version. A checkpoint points at its blobs through
  ``checkpoint->'channel_versions'``, so a channel that did not change between two
  checkpoints is stored once.
* ``checkpoint_writes``: pending writes of the tasks of a super-step, keyed by the checkpoint
  they follow and (task_id, idx).

Key columns are TEXT with the "C" collation: ids sort by code point, as LangGraph sorts them
in Python (checkpoint ids are time-ordered uuid6 strings, "latest" = greatest), whatever the
database's default collation. There is deliberately no foreign key to ``threads``: the saver
also stores graphs that are not server threads, and writes may arrive before their checkpoint.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

from app.db.meta import metadata


def _key(name: str, *, nullable: bool = False, comment: str | None = None) -> Column[str]:
    """A TEXT key column compared and sorted bytewise (COLLATE "C")."""
    return Column(name, Text(collation="C"), nullable=nullable, comment=comment)


def _created_at() -> Column[object]:
    return Column(
        "created_at",
        TIMESTAMP(timezone=True),
        nullable=False,
        server_default=text("now()"),
        comment="When the row was written (informational; ordering uses checkpoint_id).",
    )


def _thread_and_namespace() -> tuple[Column[str], Column[str]]:
    """The leading key columns of every checkpoint table."""
    thread_id = _key(
        "thread_id",
        comment="LangGraph thread id (configurable.thread_id) as text; not a foreign key, "
        "it may name something other than a server thread.",
    )
    return thread_id, Column(
        "checkpoint_ns",
        Text(collation="C"),
        nullable=False,
        server_default=text("''"),
        comment="Checkpoint namespace: '' for the root graph, 'node:task_id|...' for subgraphs.",
    )


checkpoints = Table(
    "checkpoints",
    metadata,
    *_thread_and_namespace(),
    _key("checkpoint_id", comment="uuid6 of the checkpoint; time-ordered, greatest = latest."),
    _key(
        "parent_checkpoint_id",
        nullable=True,
        comment="The checkpoint this one was derived from (same thread and namespace).",
    ),
    _key(
        "run_id",
        nullable=True,
        comment="metadata.run_id copied into a column: a run's checkpoints are deleted "
        "by it (rollback, delete_for_runs).",
    ),
    Column(
        "checkpoint",
        JSONB,
        nullable=False,
        comment="The Checkpoint document without channel_values: v, id, ts, channel_versions, "
        "versions_seen, updated_channels. Values are in checkpoint_blobs by channel_versions.",
    ),
    Column(
        "metadata",
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="CheckpointMetadata (source, step, parents, run_id, user keys); "
        "list filters match it with @>.",
    ),
    _created_at(),
    PrimaryKeyConstraint("thread_id", "checkpoint_ns", "checkpoint_id"),
    Index("ix_checkpoints_run_id", "run_id", postgresql_where=text("run_id IS NOT NULL")),
    comment="LangGraph checkpoints, one row per checkpoint (written by PostgresSaver.aput).",
)

checkpoint_blobs = Table(
    "checkpoint_blobs",
    metadata,
    *_thread_and_namespace(),
    _key("channel", comment="Channel (state key) name."),
    _key(
        "version",
        comment="Channel version as text, as it appears in checkpoint->'channel_versions'.",
    ),
    Column(
        "type",
        Text,
        nullable=False,
        comment="Serializer type tag (msgpack, bytes, null, ...; '+zstd' appended: "
        "zstd-compressed). A channel without a value at a version has no row; 'empty' "
        "rows, written by versions before 0017, mean the same and are skipped by reads.",
    ),
    Column(
        "blob",
        LargeBinary,
        nullable=True,
        comment="Serialized value; NULL in the older 'empty' rows.",
    ),
    PrimaryKeyConstraint("thread_id", "checkpoint_ns", "channel", "version"),
    comment="Channel values by version, shared by every checkpoint whose channel_versions "
    "names that version.",
)

checkpoint_writes = Table(
    "checkpoint_writes",
    metadata,
    *_thread_and_namespace(),
    _key("checkpoint_id", comment="The checkpoint these writes follow (no foreign key)."),
    _key("task_id", comment="The task that produced the write."),
    Column(
        "idx",
        Integer,
        nullable=False,
        comment="Position in the task's writes; negative for special channels "
        "(-1 error, -2 scheduled, -3 interrupt, -4 resume), which are overwritten.",
    ),
    _key("channel", comment="Channel written (or __error__, __interrupt__, __resume__...)."),
    Column("type", Text, nullable=False, comment="Serializer type tag of blob."),
    Column("blob", LargeBinary, nullable=False, comment="Serialized value written."),
    Column(
        "task_path",
        Text(collation="C"),
        nullable=False,
        server_default=text("''"),
        comment="Task path; pending writes are returned ordered by (task_path, task_id, idx).",
    ),
    _key(
        "run_id",
        nullable=True,
        comment="Run that wrote the row (config metadata.run_id), e.g. a resume value "
        "written on an earlier run's checkpoint; deleted with the run.",
    ),
    _created_at(),
    PrimaryKeyConstraint("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"),
    Index("ix_checkpoint_writes_run_id", "run_id", postgresql_where=text("run_id IS NOT NULL")),
    comment="Pending writes of tasks, attached to the checkpoint they follow "
    "(written by PostgresSaver.aput_writes).",
)
