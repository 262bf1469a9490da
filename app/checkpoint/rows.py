"""How LangGraph's checkpoints and writes become rows of our checkpoint tables, and back.

* :func:`checkpoint_rows`: a checkpoint as its key, its ``checkpoints`` row (the Checkpoint
  without ``channel_values`` and the metadata, as JSON text) and one ``checkpoint_blobs`` row
  per channel in ``new_versions`` that has a value (none for one without: reads find no row,
  as they skip the ``empty`` rows earlier versions wrote).
* :func:`write_rows`: a task's pending writes as ``checkpoint_writes`` keys and rows; special
  channels (error, interrupt, ...) take their fixed negative ``idx`` (``WRITES_IDX_MAP``).
* :func:`to_tuple`: a row of ``sql.SELECT_TUPLES`` as a ``CheckpointTuple``; :class:`Starting`:
  such a row read ahead of a run (with its claim).

Values are serialized with the saver's ``serde`` as (type, bytes); a blob of
``COMPRESS_FROM`` bytes or more is stored zstd-compressed, its type marked ``+zstd``
(:func:`packed`, :func:`unpacked`). JSON documents with orjson, NUL characters dropped
(PostgreSQL's jsonb cannot hold them). The saver that writes
and reads these rows is :mod:`app.checkpoint.saver`; the statements are :mod:`app.checkpoint.sql`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import zstandard
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from app.checkpoint import sql

ZSTD = "+zstd"  # blob type suffix: the bytes are a zstd frame of the serialized value
COMPRESS_FROM = 4096
"""Blobs this large or larger are compressed here (zstd level 1) rather than by PostgreSQL's
TOAST (pglz): on chat text that is 0.28 of the size instead of 0.44, at about 3 ms per MB
on the worker instead of about 27 ms per MB in the database backend; below this size TOAST
would not compress them either (it starts at about 2 KB)."""


def packed(typed: tuple[str, bytes]) -> tuple[str, bytes]:
    """A serialized value as stored: compressed when it is large."""
    type_, blob = typed
    if len(blob) < COMPRESS_FROM:
        return type_, blob
    return type_ + ZSTD, zstandard.compress(blob, 1)


def unpacked(type_: str, blob: bytes) -> tuple[str, bytes]:
    """A stored value as the serde wrote it."""
    if type_.endswith(ZSTD):
        return type_[: -len(ZSTD)], zstandard.decompress(blob)
    return type_, blob


def dumps_json(obj: Any) -> str:
    text = orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
    if "\\u0000" in text:  # PostgreSQL's jsonb cannot hold NUL characters
        text = orjson.dumps(strip_nul(obj), option=orjson.OPT_NON_STR_KEYS).decode()
    return text


def strip_nul(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.replace("\x00", "")
    if isinstance(obj, dict):
        return {strip_nul(k): strip_nul(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strip_nul(v) for v in obj]
    return obj


def run_id_of(config: RunnableConfig) -> str | None:
    """The run a config belongs to: metadata.run_id, else configurable.run_id."""
    value = (config.get("metadata") or {}).get("run_id") or config.get("configurable", {}).get(
        "run_id"
    )
    return None if value is None else str(value)


def checkpoint_rows(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> tuple[sql.CheckpointKey, sql.CheckpointRow, list[sql.BlobRow]]:
    """The key, ``checkpoints`` row and new blobs of ``checkpoint`` put under ``config``."""
    configurable = config["configurable"]
    thread_id = str(configurable["thread_id"])
    checkpoint_ns = configurable.get("checkpoint_ns") or ""
    document = {k: v for k, v in checkpoint.items() if k != "channel_values"}
    values = checkpoint["channel_values"]
    blobs: list[sql.BlobRow] = []
    for channel, version in new_versions.items():
        # A channel without a value at this version gets no row (module docstring).
        if channel in values:
            type_, blob = packed(serde.dumps_typed(values[channel]))
            blobs.append((thread_id, checkpoint_ns, channel, str(version), type_, blob))
    # The thread's id in the metadata too, as the reference server writes it.
    meta = {**get_serializable_checkpoint_metadata(config, metadata), "thread_id": thread_id}
    run_id = meta.get("run_id")
    key = (thread_id, checkpoint_ns, checkpoint["id"])
    row = (
        configurable.get("checkpoint_id"),
        None if run_id is None else str(run_id),
        dumps_json(document),
        dumps_json(meta),
    )
    return key, row, blobs


def write_rows(
    serde: SerializerProtocol,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> list[tuple[sql.WriteKey, sql.WriteRow]]:
    """The ``checkpoint_writes`` keys and rows of a task's ``writes``, in order."""
    configurable = config["configurable"]
    thread_id = str(configurable["thread_id"])
    checkpoint_ns = configurable.get("checkpoint_ns") or ""
    checkpoint_id = configurable["checkpoint_id"]
    run_id = run_id_of(config)
    rows: list[tuple[sql.WriteKey, sql.WriteRow]] = []
    for i, (channel, value) in enumerate(writes):
        type_, blob = packed(serde.dumps_typed(value))
        idx = WRITES_IDX_MAP.get(channel, i)
        rows.append(
            (
                (thread_id, checkpoint_ns, checkpoint_id, task_id, idx),
                (task_path, run_id, channel, type_, blob),
            )
        )
    return rows


@dataclass(frozen=True)
class Starting:
    """A thread's newest root checkpoint read ahead of the run that starts from it (with
    its claim): a row of ``sql.SELECT_TUPLES``, or None when the thread had none."""

    thread_id: str
    row: dict[str, Any] | None

    @classmethod
    def of(cls, thread_id: str, record: Any, prefix: str) -> Starting:
        """From the columns ``prefix_<column>`` of ``record`` (``sql.latest_root``)."""
        if record[f"{prefix}_checkpoint_id"] is None:
            return cls(thread_id, None)
        return cls(thread_id, {name: record[f"{prefix}_{name}"] for name in sql.TUPLE_COLUMNS})

    def answers(self, thread_id: str, checkpoint_ns: str, checkpoint_id: str | None) -> bool:
        """Whether it is the answer to a read of this thread's latest root checkpoint."""
        return thread_id == self.thread_id and checkpoint_ns == "" and not checkpoint_id


def to_tuple(serde: SerializerProtocol, row: Any) -> CheckpointTuple:
    """A row of ``sql.SELECT_TUPLES`` (checkpoint, blobs, pending writes) as a CheckpointTuple."""
    loads = serde.loads_typed
    thread_id: str = row["thread_id"]
    checkpoint_ns: str = row["checkpoint_ns"]
    checkpoint = orjson.loads(row["checkpoint"])
    values: dict[str, Any] = {}
    if row["blob_channels"] is not None:
        for channel, type_, blob in zip(
            row["blob_channels"], row["blob_types"], row["blob_values"], strict=True
        ):
            values[channel] = loads(unpacked(type_, blob))
    checkpoint["channel_values"] = values
    writes: list[PendingWrite] = []
    if row["write_task_ids"] is not None:
        for task_id, channel, type_, blob in zip(
            row["write_task_ids"],
            row["write_channels"],
            row["write_types"],
            row["write_values"],
            strict=True,
        ):
            writes.append((task_id, channel, loads(unpacked(type_, blob))))
    parent_id: str | None = row["parent_checkpoint_id"]
    return CheckpointTuple(
        config={
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": row["checkpoint_id"],
            }
        },
        checkpoint=cast(Checkpoint, checkpoint),
        metadata=cast(CheckpointMetadata, orjson.loads(row["metadata"])),
        parent_config=(
            {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "checkpoint_id": parent_id,
                }
            }
            if parent_id
            else None
        ),
        pending_writes=writes,
    )
