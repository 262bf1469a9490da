"""The newest root checkpoint a run's saver put, kept as it was handed over, so the run's
finish reads its final state without a query (``PostgresSaver.buffered``).

Only the root namespace is kept, with the pending writes put against it after the same rules
as the table (``sql.add_write``: a regular write keeps its first value for (task, idx), a
special one is replaced) and in the order a read gives them (task path, task id, idx). The
saver answers from it only once the run's writer has committed everything and closed, so the
table holds exactly this (the graph is done: nothing changes it any more).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import WRITES_IDX_MAP, Checkpoint, CheckpointTuple

from app.checkpoint import sql


class Latest:
    def __init__(
        self, config: RunnableConfig, checkpoint: Checkpoint, row: sql.CheckpointRow
    ) -> None:
        conf = config["configurable"]
        self.thread_id = str(conf["thread_id"])
        self.checkpoint_id = str(conf["checkpoint_id"])
        self.config = config
        self.checkpoint = checkpoint
        self.parent_id, _, _, self.metadata = row  # the row's JSON: decoded when read
        self.writes: dict[tuple[str, int], tuple[str, str, Any]] = {}

    def add_writes(
        self, checkpoint_id: str, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> None:
        if checkpoint_id != self.checkpoint_id:
            return
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            if idx >= 0 and (task_id, idx) in self.writes:
                continue  # a regular write keeps its first value
            self.writes[(task_id, idx)] = (task_path, channel, value)

    def answers(self, config: RunnableConfig) -> bool:
        """Whether a read of ``config`` asks for this checkpoint."""
        conf = config["configurable"]
        wanted = conf.get("checkpoint_id")
        return (
            str(conf.get("thread_id")) == self.thread_id
            and not conf.get("checkpoint_ns")
            and (not wanted or str(wanted) == self.checkpoint_id)
        )

    def tuple(self) -> CheckpointTuple:
        ordered = sorted(self.writes.items(), key=lambda kv: (kv[1][0], kv[0][0], kv[0][1]))
        parent = (
            {
                "configurable": {
                    "thread_id": self.thread_id,
                    "checkpoint_ns": "",
                    "checkpoint_id": self.parent_id,
                }
            }
            if self.parent_id
            else None
        )
        return CheckpointTuple(
            config=self.config,
            checkpoint=self.checkpoint,
            metadata=orjson.loads(self.metadata),  # exactly what the row stores
            parent_config=parent,  # type: ignore[arg-type]
            pending_writes=[
                (task_id, channel, value) for (task_id, _), (_, channel, value) in ordered
            ],
        )
