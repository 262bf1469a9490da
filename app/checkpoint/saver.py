"""A LangGraph checkpoint saver on asyncpg, over the tables of ``app.db.checkpoint_tables``.

Table layout (created by the Alembic migration ``0002_checkpoints``, no foreign keys):

* ``checkpoints`` (thread_id, checkpoint_ns, checkpoint_id) -> parent_checkpoint_id, run_id,
  checkpoint JSONB (the Checkpoint without ``channel_values``), metadata JSONB.
* ``checkpoint_blobs`` (thread_id, checkpoint_ns, channel, version) -> type, blob: a channel's
  serialized value at one version. ``aput`` writes blobs only for ``new_versions``; a
  checkpoint finds its values by joining its ``channel_versions`` to this table, so an
  unchanged channel is stored once however many checkpoints name it.
* ``checkpoint_writes`` (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) -> channel,
  type, blob, task_path, run_id: pending writes of the tasks that follow a checkpoint.

Values are serialized with ``self.serde`` (JsonPlusSerializer by default) as (type, bytes);
the mapping between LangGraph's objects and these rows is :mod:`app.checkpoint.rows`.

What each method does and guarantees (every statement runs in its own implicit transaction;
nothing is locked beyond the rows a statement writes):

* ``aput``, ``aput_writes``: one statement each, the checkpoint upsert (``sql.upsert``), atomic;
  re-putting a checkpoint id replaces its document and metadata; existing blobs are never
  rewritten; regular writes keep the first value stored for (task_id, idx) (idempotent
  retries), special writes (error, interrupt, resume, scheduled; negative idx) are replaced.
  A ``buffered`` saver (a run's) hands both to the run's writer instead, which writes them
  with the same upsert, fenced by the run's lease.
* ``aget_tuple``: one query returning the checkpoint, its blobs and its pending writes
  (ordered by ``writes_sort_key``: task_path, task_id, idx).
* ``alist``: newest first (checkpoint_id descending), metadata filter by JSONB ``@>``,
  ``before``/``limit``; fetched in pages of ``LIST_PAGE_SIZE`` rows (keyset pagination), so
  rows are not one snapshot across pages.
* ``adelete_thread``, ``aprune(strategy="delete")``: one statement deleting every row of the
  threads in all three tables.
* ``adelete_for_runs``: one statement deleting the runs' checkpoints, their writes, writes
  the runs made elsewhere, and blobs no remaining checkpoint names; ``thread_id=`` scopes
  it to one thread (a copied thread keeps the run ids of its source).
* ``aprune(strategy="keep_latest")``: keeps the newest checkpoint per (thread, namespace)
  with its writes; deletes the rest and the blobs only they named.
* ``acopy_thread``: one statement copying checkpoints, blobs and writes to the target
  thread (rows the target already has are kept).

The blob sweep of ``adelete_for_runs``/``aprune`` assumes no run writes those threads at the
same time (the server runs one run per thread; rollback happens after the run stopped).
``aprune`` and ``adelete_for_runs`` are not DeltaChannel-aware (see BaseCheckpointSaver.prune).

The sync methods run the async ones on the saver's event loop from another thread (as
LangGraph's async savers do) and refuse to run on the loop's own thread.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from app.checkpoint import sql
from app.checkpoint.latest import Latest
from app.checkpoint.rows import Starting, checkpoint_rows, dumps_json, to_tuple, write_rows

LIST_PAGE_SIZE = 100

__all__ = ["LIST_PAGE_SIZE", "PostgresSaver"]

P = ParamSpec("P")
T = TypeVar("T")


class RunWriterLike(Protocol):
    """What a buffered saver hands its writes to (app.worker.writer.RunWriter)."""

    async def put_checkpoint(
        self, key: sql.CheckpointKey, row: sql.CheckpointRow, blobs: list[sql.BlobRow]
    ) -> None: ...

    def put_writes(self, rows: list[tuple[sql.WriteKey, sql.WriteRow]]) -> None: ...

    async def settle(self) -> None: ...

    @property
    def closed(self) -> bool:
        """Everything handed over is committed and nothing more will be."""
        ...


def _blocking(
    method: Callable[Concatenate[PostgresSaver, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[PostgresSaver, P], T]:
    """The sync twin of an async method: runs it on the saver's loop (``_run``)."""

    @functools.wraps(method)
    def blocking(self: PostgresSaver, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return cast(T, self._run(method(self, *args, **kwargs)))

    blocking.__name__ = blocking.__qualname__ = method.__name__.removeprefix("a")
    return blocking


def _blocking_iter(
    method: Callable[Concatenate[PostgresSaver, P], AsyncIterator[T]],
) -> Callable[Concatenate[PostgresSaver, P], Iterator[T]]:
    """The sync twin of an async iterator method: each item fetched on the saver's loop."""

    @functools.wraps(method)
    def blocking(self: PostgresSaver, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        iterator = method(self, *args, **kwargs)

        async def step() -> T:
            return await anext(iterator)

        while True:
            try:
                yield cast(T, self._run(step()))
            except StopAsyncIteration:
                return

    blocking.__name__ = blocking.__qualname__ = method.__name__.removeprefix("a")
    return blocking


class PostgresSaver(BaseCheckpointSaver[str]):
    """Checkpoint saver storing in PostgreSQL through an ``asyncpg.Pool``.

    Construct it on the event loop that owns the pool: ``PostgresSaver(pool)``.
    """

    def __init__(self, pool: Any, serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self.pool = pool
        self.writer: RunWriterLike | None = None
        self.latest: Latest | None = None
        """A buffered saver's newest root checkpoint, read from memory once the writer
        closed (the run's finish)."""
        self.start: Starting | None = None
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = getattr(pool, "_loop", None)
            if loop is None:
                raise RuntimeError(
                    "PostgresSaver must be created on the event loop of its asyncpg pool"
                ) from None
            self.loop = loop

    def buffered(self, writer: RunWriterLike, start: Starting | None = None) -> PostgresSaver:
        """This saver, handing its writes to a run's ``writer`` (app.worker.writer), which
        batches them with the run's stream events in statements fenced by the run's lease
        (DESIGN I4); every other operation first waits for what was handed over. ``start``:
        the thread's latest root checkpoint, read with the run's claim, answers the first
        read if that read asks for it (the graph's, as it starts)."""
        saver = copy.copy(self)
        saver.writer = writer
        saver.latest = None
        saver.start = start
        return saver

    @property
    def holds_latest(self) -> bool:
        """Whether this run's saver put a root checkpoint (it has the latest one, with its
        pending writes, in memory): once its writer is closed or has handed over, a read
        of the thread's state needs nothing from the table (``_from_memory``)."""
        return self.latest is not None

    # --- reading ------------------------------------------------------------------------

    async def _settle(self) -> None:
        """Wait until the checkpoint data handed to the writer (if any) is committed."""
        if self.writer is not None:
            await self.writer.settle()

    def _from_memory(self, config: RunnableConfig) -> Latest | None:
        """The run's last root checkpoint if ``config`` asks for it and the run's writer has
        closed (so the table holds just what memory does)."""
        latest = self.latest
        if latest is None or self.writer is None or not self.writer.closed:
            return None
        return latest if latest.answers(config) else None

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        await self._settle()
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns") or ""
        if (latest := self._from_memory(config)) is not None:
            return latest.tuple()
        checkpoint_id = get_checkpoint_id(config)
        start, self.start = self.start, None  # only ever the first read
        if start is not None and start.answers(thread_id, checkpoint_ns, checkpoint_id):
            return None if start.row is None else to_tuple(self.serde, start.row)
        if checkpoint_id:
            row = await self.pool.fetchrow(sql.GET_BY_ID, thread_id, checkpoint_ns, checkpoint_id)
        else:
            row = await self.pool.fetchrow(sql.GET_LATEST, thread_id, checkpoint_ns)
        return None if row is None else to_tuple(self.serde, row)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        await self._settle()
        where: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if config is not None:
            configurable = config["configurable"]
            if configurable.get("thread_id") is not None:
                where.append(f"c.thread_id = {arg(str(configurable['thread_id']))}")
            if configurable.get("checkpoint_ns") is not None:
                where.append(f"c.checkpoint_ns = {arg(configurable['checkpoint_ns'])}")
            if checkpoint_id := get_checkpoint_id(config):
                where.append(f"c.checkpoint_id = {arg(checkpoint_id)}")
        if filter:
            where.append(f"c.metadata @> {arg(dumps_json(filter))}::text::jsonb")
        if before is not None and (before_id := get_checkpoint_id(before)):
            where.append(f"c.checkpoint_id < {arg(before_id)}")

        remaining = limit
        cursor: tuple[str, str, str] | None = None
        while remaining is None or remaining > 0:
            page = LIST_PAGE_SIZE if remaining is None else min(remaining, LIST_PAGE_SIZE)
            page_args = list(args)
            conditions = list(where)
            if cursor is not None:
                n = len(page_args)
                page_args.extend(cursor)
                conditions.append(
                    f"c.checkpoint_id <= ${n + 1} AND "
                    f"(c.checkpoint_id, c.thread_id, c.checkpoint_ns) < (${n + 1}, ${n + 2}, ${n + 3})"
                )
            query = sql.SELECT_TUPLES
            if conditions:
                query += "WHERE " + " AND ".join(conditions)
            page_args.append(page)
            query += f"{sql.LIST_ORDER} LIMIT ${len(page_args)}"
            rows = await self.pool.fetch(query, *page_args)
            for row in rows:
                yield to_tuple(self.serde, row)
            if len(rows) < page:
                return
            if remaining is not None:
                remaining -= len(rows)
            last = rows[-1]
            cursor = (last["checkpoint_id"], last["thread_id"], last["checkpoint_ns"])

    # --- writing ------------------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        key, row, blobs = checkpoint_rows(self.serde, config, checkpoint, metadata, new_versions)
        thread_id, checkpoint_ns, checkpoint_id = key
        stored: RunnableConfig = {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
            }
        }
        if self.writer is not None:
            await self.writer.put_checkpoint(key, row, blobs)
            if not checkpoint_ns:
                self.latest = Latest(stored, checkpoint, row)
        else:
            await sql.put(self.pool, blobs=blobs, checkpoints={key: row})
        return stored

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        if not writes:
            return
        rows = write_rows(self.serde, config, writes, task_id, task_path)
        if self.writer is not None:
            self.writer.put_writes(rows)
            configurable = config["configurable"]
            if self.latest is not None and not configurable.get("checkpoint_ns"):
                self.latest.add_writes(
                    str(configurable["checkpoint_id"]), writes, task_id, task_path
                )
            return
        merged: dict[sql.WriteKey, sql.WriteRow] = {}
        for key, row in rows:
            sql.add_write(merged, key, row)
        await sql.put(self.pool, writes=merged)

    # --- deleting and copying -----------------------------------------------------------

    async def adelete_thread(self, thread_id: str) -> None:
        await self._settle()
        await sql.delete_threads(self.pool, [str(thread_id)])

    async def adelete_for_runs(
        self, run_ids: Sequence[str], *, thread_id: str | None = None
    ) -> None:
        """Delete the runs' checkpoints and writes (optionally only on ``thread_id``)."""
        await self._settle()
        if run_ids:
            await sql.delete_for_runs(
                self.pool, [str(r) for r in run_ids], None if thread_id is None else str(thread_id)
            )

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._settle()
        if str(source_thread_id) != str(target_thread_id):
            await sql.copy_thread(self.pool, str(source_thread_id), str(target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}: keep_latest | delete")
        ids = [str(t) for t in thread_ids]
        if not ids:
            return
        await self._settle()
        if strategy == "delete":
            await sql.delete_threads(self.pool, ids)
        else:
            await sql.prune_keep_latest(self.pool, ids)

    # --- versions -----------------------------------------------------------------------

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Monotonic "<counter>.<random>" versions, as LangGraph's own savers use.

        The random part keeps versions of forked histories apart, so a (channel, version)
        blob always names one value.
        """
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # --- sync API: the async methods, run on the saver's loop from another thread --------

    def _run(self, coro: Any) -> Any:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            coro.close()
            raise asyncio.InvalidStateError(
                "Synchronous calls to PostgresSaver are only allowed from a different "
                "thread than its event loop's. From the loop, use the async API "
                "(e.g. `await graph.ainvoke(...)`, `checkpointer.aget_tuple(...)`)."
            )
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    get_tuple = _blocking(aget_tuple)
    put = _blocking(aput)
    put_writes = _blocking(aput_writes)
    delete_thread = _blocking(adelete_thread)
    delete_for_runs = _blocking(adelete_for_runs)
    copy_thread = _blocking(acopy_thread)
    prune = _blocking(aprune)

    list = _blocking_iter(alist)
