"""Thread state and history (API.md §7), read through the graph and our checkpointer."""

from __future__ import annotations

import uuid
from typing import Any, cast

import asyncpg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import InvalidUpdateError
from langgraph.types import StateSnapshot, StateUpdate

from app.core import thread_status, wire
from app.core.access import ALL, Access
from app.core.errors import BadRequest, Conflict, InvalidInput, NotFound
from app.core.jsonable import dumps_str, plain
from app.core.runs import merge_config
from app.db import assistants as assistant_rows
from app.db import events as event_rows
from app.db import runs as run_rows
from app.db import threads as thread_rows
from app.graphs.registry import GraphRegistry
from app.services.threads import not_found

EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def _checkpoint(config: RunnableConfig | None) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    if not conf.get("checkpoint_id"):
        return None
    out = {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
    }
    if conf.get("checkpoint_map"):
        out["checkpoint_map"] = conf["checkpoint_map"]
    return out


def _error_text(error: Any) -> str | None:
    """A task's error as the reference shows it: ``ValueError('boom')``. A pending task
    read back from a checkpoint has it as that text already (not quoted again)."""
    if error is None:
        return None
    return error if isinstance(error, str) else repr(error)


def snapshot_to_wire(snapshot: StateSnapshot) -> dict[str, Any]:
    """A LangGraph StateSnapshot in the reference server's ThreadState shape."""
    tasks = []
    for task in snapshot.tasks:
        nested = task.state
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": list(task.path),
                "error": _error_text(task.error),
                "interrupts": [wire.interrupt(i) for i in task.interrupts],
                # A subgraph's task: its config ({thread_id, checkpoint_ns}, and the
                # checkpoint once it has one), as the reference shows it.
                "checkpoint": dict(nested.get("configurable") or {}) or None
                if isinstance(nested, dict)
                else None,
                "state": snapshot_to_wire(nested) if isinstance(nested, StateSnapshot) else None,
                "result": task.result,
            }
        )
    metadata = dict(snapshot.metadata) if snapshot.metadata is not None else None
    if metadata is not None and not metadata.get("checkpoint_ns"):
        metadata.pop("checkpoint_ns", None)
    checkpoint = _checkpoint(snapshot.config)
    parent = _checkpoint(snapshot.parent_config)
    return plain(  # type: ignore[no-any-return]
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": tasks,
            "metadata": metadata,
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint,
            "parent_checkpoint": parent,
            "interrupts": [wire.interrupt(i) for i in snapshot.interrupts],
            "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
            "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
        }
    )


class StateService:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        registry: GraphRegistry,
        saver: BaseCheckpointSaver[Any],
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.saver = saver

    async def _thread(self, access: Access, thread_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await thread_rows.get(conn, thread_id, access)
        if row is None:
            raise not_found(thread_id)
        return dict(row)

    def _config(self, thread_id: uuid.UUID, checkpoint: dict[str, Any] | None) -> RunnableConfig:
        conf: dict[str, Any] = {"thread_id": str(thread_id), "checkpoint_ns": ""}
        if checkpoint:
            conf.update({k: v for k, v in checkpoint.items() if v is not None})
            conf["thread_id"] = str(thread_id)
        return {"configurable": conf}

    async def _graph_for(self, thread: Any) -> Any | None:
        """The thread's graph (None when it has none that is served). A factory is called
        with the config of the thread's assistant, as its runs build it, so the graph it
        makes has the same nodes."""
        metadata = thread["metadata"] or {}
        graph_id = metadata.get("graph_id")
        if graph_id is None or graph_id not in self.registry:
            return None
        config: dict[str, Any] | None = None
        if self.registry.entry(graph_id).factory is not None:
            config = {"configurable": {"thread_id": str(thread["thread_id"])}}
            assistant_id = metadata.get("assistant_id")
            if assistant_id:
                async with self.pool.acquire() as conn:
                    assistant = await assistant_rows.get(
                        conn, uuid.UUID(str(assistant_id)), ALL, [graph_id]
                    )
                if assistant is not None:
                    config = merge_config(assistant["config"] or {}, config)
        return await self.registry.get(
            graph_id, config=cast(RunnableConfig, config), checkpointer=self.saver
        )

    async def get_state(
        self,
        access: Access,
        thread_id: uuid.UUID,
        *,
        checkpoint: dict[str, Any] | None = None,
        subgraphs: bool = False,
    ) -> dict[str, Any]:
        """The state at the latest (or the given) checkpoint; the empty form when none."""
        thread = await self._thread(access, thread_id)
        config = self._config(thread_id, checkpoint)
        graph = await self._graph_for(thread)
        if graph is None:
            saved = await self.saver.aget_tuple(config)
            if saved is None and checkpoint and checkpoint.get("checkpoint_id"):
                raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found")
            if saved is None:
                return dict(EMPTY_STATE)
            return _raw_state(saved)
        snapshot = await graph.aget_state(config, subgraphs=subgraphs)
        if snapshot.config is None or not snapshot.config.get("configurable", {}).get(
            "checkpoint_id"
        ):
            if checkpoint and checkpoint.get("checkpoint_id"):
                raise NotFound(f"Checkpoint {checkpoint['checkpoint_id']} not found")
            return dict(EMPTY_STATE)
        return snapshot_to_wire(snapshot)

    async def history(
        self,
        access: Access,
        thread_id: uuid.UUID,
        *,
        limit: int,
        before: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        checkpoint: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        """States newest first, at most ``limit``, optionally before a checkpoint."""
        thread = await self._thread(access, thread_id)
        config = self._config(thread_id, checkpoint)
        before_config = self._config(thread_id, before) if before else None
        graph = await self._graph_for(thread)
        out: list[dict[str, Any]] = []
        if graph is None:
            async for saved in self.saver.alist(
                config, filter=metadata or None, before=before_config, limit=limit
            ):
                out.append(_raw_state(saved))
            return out
        async for snapshot in graph.aget_state_history(
            config, filter=metadata or None, before=before_config, limit=limit
        ):
            out.append(snapshot_to_wire(snapshot))
        return out

    async def apply_supersteps(
        self, access: Access, thread_id: uuid.UUID, supersteps: list[dict[str, Any]]
    ) -> None:
        """Pre-populate a new thread: each superstep's updates become one checkpoint, as
        if those nodes had run (``POST /threads`` with ``supersteps``)."""
        steps: list[list[StateUpdate]] = []
        for step in supersteps:
            updates = step.get("updates") if isinstance(step, dict) else None
            if not isinstance(updates, list):
                raise InvalidInput("Each superstep needs a list of 'updates'.")
            batch = []
            for update in updates:
                if not isinstance(update, dict):
                    raise InvalidInput("Each update must be an object.")
                if update.get("command") is not None:
                    raise InvalidInput("'command' in supersteps is not supported; use values.")
                batch.append(StateUpdate(update.get("values"), update.get("as_node")))
            steps.append(batch)
        async with self.pool.acquire() as conn, conn.transaction():
            thread = await thread_rows.get(conn, thread_id, access, lock=True)
            if thread is None:
                raise not_found(thread_id)
            graph = await self._graph_for(thread)
            if graph is None:
                raise BadRequest("supersteps need the thread's graph: pass graph_id.")
            config = self._config(thread_id, None)
            try:
                await graph.abulk_update_state(config, steps)
            except (InvalidUpdateError, ValueError) as exc:
                raise BadRequest(f"Invalid superstep: {exc}") from None
            await _refresh_thread(conn, graph, thread_id)

    async def update_state(
        self,
        access: Access,
        thread_id: uuid.UUID,
        *,
        values: Any,
        as_node: str | None,
        checkpoint: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """``POST /threads/{id}/state``: write a checkpoint with ``values`` applied (as ``as_node``), refresh the thread's
        values, status and interrupts, and tell the thread stream (``state_update``).

        The thread row stays locked meanwhile, so no run starts in between; a thread with a
        pending or running run answers 409."""
        svc = self
        async with svc.pool.acquire() as conn, conn.transaction():
            thread = await thread_rows.get(conn, thread_id, access, lock=True)
            if thread is None:
                raise not_found(thread_id)
            if await run_rows.has_inflight(conn, thread_id):
                raise Conflict(f"Thread {thread_id} has a run in progress; cannot update state.")
            graph = await svc._graph_for(thread)
            if graph is None:
                raise BadRequest(f"Thread {thread_id} has no graph ID; run it first.")
            config = svc._config(thread_id, checkpoint)
            try:
                written = await graph.aupdate_state(config, values, as_node=as_node)
            except (InvalidUpdateError, ValueError) as exc:
                raise BadRequest(f"Invalid state update: {exc}") from None
            snapshot = await _refresh_thread(conn, graph, thread_id)
            event = {"state": snapshot_to_wire(snapshot), "thread_id": str(thread_id)}
            await event_rows.append(conn, thread_id, None, [("state_update", dumps_str(event))])
        ref = _checkpoint(written)
        return {
            "checkpoint": ref,
            "configurable": ref,
            "checkpoint_id": (ref or {}).get("checkpoint_id"),
        }


async def _refresh_thread(conn: Any, graph: Any, thread_id: uuid.UUID) -> StateSnapshot:
    """Copy the thread's latest state (values, interrupts, idle or interrupted) to its row
    after a manual update; returns that state."""
    snapshot: StateSnapshot = await graph.aget_state(
        {"configurable": {"thread_id": str(thread_id)}}
    )
    interrupts = wire.interrupts_by_task(snapshot)
    await thread_rows.set_state(
        conn,
        thread_id,
        status=thread_status.after_run(failed=False, waiting=bool(snapshot.next)),
        values=plain(snapshot.values),
        interrupts=plain(interrupts),
        error=None,
    )
    return snapshot


def _raw_state(saved: Any) -> dict[str, Any]:
    """State from a bare checkpoint when the thread's graph is unknown (no graph_id yet)."""
    values = saved.checkpoint.get("channel_values", {})
    checkpoint = _checkpoint(saved.config)
    parent = _checkpoint(saved.parent_config)
    return plain(  # type: ignore[no-any-return]
        {
            "values": {k: v for k, v in values.items() if not k.startswith("branch:")},
            "next": [],
            "tasks": [],
            "metadata": saved.metadata,
            "created_at": saved.checkpoint.get("ts"),
            "checkpoint": checkpoint,
            "parent_checkpoint": parent,
            "interrupts": [],
            "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
            "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
        }
    )
