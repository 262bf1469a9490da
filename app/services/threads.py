"""Thread use cases. Each method owns its transaction."""

from __future__ import annotations

import uuid
from typing import Any, TypedDict, Unpack

import asyncpg

from app.checkpoint import sql as checkpoint_sql
from app.core import wire
from app.core.access import Access
from app.core.enums import RESERVED_METADATA_KEYS, THREAD_SELECT_FIELDS, THREAD_SORT_FIELDS
from app.core.errors import BadRequest, Conflict, InvalidInput, NotFound
from app.core.fields import selected, sort_field
from app.core.ids import parse_uuid, uuid7
from app.db import threads as rows
from app.db.access import Where
from app.db.notify import RUN_CANCEL, notify
from app.services.listing import Page, Table


def clean_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Client metadata without the keys the server owns (API.md §1)."""
    return {k: v for k, v in (metadata or {}).items() if k not in RESERVED_METADATA_KEYS}


def not_found(thread_id: uuid.UUID) -> NotFound:
    return NotFound(f"Thread with ID {thread_id} not found")


TTL_STRATEGIES = ("delete", "keep_latest")
MAX_TTL_MINUTES = 100 * 365 * 24 * 60
"""A hundred years: a longer ttl would put the expiry past what a timestamp holds."""


def parse_ttl(value: Any) -> tuple[float, str] | None:
    """``ttl`` as sent: minutes, or ``{"ttl": minutes, "strategy": ...}``; None when absent."""
    if value is None:
        return None
    if isinstance(value, dict):
        minutes, strategy = value.get("ttl"), value.get("strategy") or "delete"
    else:
        minutes, strategy = value, "delete"
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int | float)
        or not 0 < minutes <= MAX_TTL_MINUTES
    ):
        raise InvalidInput("ttl must be a positive number of minutes, at most 100 years")
    if strategy not in TTL_STRATEGIES:
        raise InvalidInput(f"Invalid TTL strategy: {strategy!r}. Expected one of {TTL_STRATEGIES}")
    return float(minutes), strategy


class ThreadFilters(TypedDict):
    """What a thread search or count filters on (besides access)."""

    metadata: dict[str, Any] | None
    values: dict[str, Any] | None
    status: str | None


class ThreadSearch(ThreadFilters, Page):
    ids: list[str] | None


THREADS = Table(rows.TABLE, rows.KEY, wire.thread)


class ThreadService:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        default_ttl: tuple[float, str] | None = None,
        sweep_limit: int = 100,
    ) -> None:
        self.pool = pool
        self.default_ttl = default_ttl
        """``checkpointer.ttl``: what a thread created without a ``ttl`` expires after."""
        self.sweep_limit = sweep_limit

    async def create(
        self,
        access: Access,
        *,
        thread_id: uuid.UUID | None,
        metadata: dict[str, Any] | None,
        if_exists: str,
        ttl: Any = None,
    ) -> wire.Thread:
        """Insert a thread (``uuid7`` id unless given). With ``if_exists="do_nothing"`` an
        existing thread is returned unchanged; otherwise it raises Conflict."""
        tid = thread_id or uuid7()
        expiry = parse_ttl(ttl) or self.default_ttl
        async with self.pool.acquire() as conn:  # one statement: no BEGIN/COMMIT round trips
            row = await rows.insert(conn, tid, clean_metadata(metadata), ttl=expiry)
            if row is not None:
                return wire.thread(row)
            if if_exists == "do_nothing":
                existing = await rows.get(conn, tid, access)
                if existing is not None:
                    return wire.thread(existing)
        raise Conflict(f"Thread with ID {tid} already exists")

    async def get(
        self, access: Access, thread_id: uuid.UUID, *, include_ttl: bool = False
    ) -> wire.Thread:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, thread_id, access)
            if row is None:
                raise not_found(thread_id)
            out = wire.thread(row)
            if include_ttl:
                ttl = await rows.ttl_of(conn, thread_id)
                if ttl is not None:
                    out.ttl = wire.thread_ttl(ttl)
        return out

    async def update(
        self,
        access: Access,
        thread_id: uuid.UUID,
        metadata: dict[str, Any] | None,
        ttl: Any = None,
    ) -> wire.Thread:
        expiry = parse_ttl(ttl)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.merge_metadata(conn, thread_id, clean_metadata(metadata), access)
            if row is None:
                raise not_found(thread_id)
            if expiry is not None:
                await rows.set_ttl(conn, thread_id, *expiry)
        return wire.thread(row)

    async def sweep_expired(self) -> int:
        """Act on threads past their TTL: delete them, or keep only their latest checkpoint
        (and wait for the next activity to set a new expiry). Busy threads are skipped."""
        async with self.pool.acquire() as conn, conn.transaction():
            due = await rows.expired(conn, self.sweep_limit)
            doomed = [r["thread_id"] for r in due if r["ttl_strategy"] != "keep_latest"]
            pruned = [r["thread_id"] for r in due if r["ttl_strategy"] == "keep_latest"]
            if doomed:
                await rows.delete_many(conn, doomed)
                await checkpoint_sql.delete_threads(conn, [str(t) for t in doomed])
            if pruned:
                await checkpoint_sql.prune_keep_latest(conn, [str(t) for t in pruned])
                await rows.clear_expiry(conn, pruned)
        return len(due)

    async def delete(self, access: Access, thread_id: uuid.UUID) -> None:
        """Delete the thread, its runs and its checkpoints in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            running = await rows.running_run_ids(conn, thread_id)
            if not await rows.delete(conn, thread_id, access):
                raise not_found(thread_id)
            await checkpoint_sql.delete_threads(conn, [str(thread_id)])
            for run_id in running:  # their workers stop; their finish finds no run to update
                await notify(conn, RUN_CANCEL, str(run_id))

    async def copy(
        self, access: Access, thread_id: uuid.UUID, stamp: dict[str, Any] | None = None
    ) -> wire.Thread:
        """A new thread with the source's metadata (plus ``stamp``, what a create handler
        added), values and every checkpoint; idle. A missing source answers 409, as the
        reference server does."""
        new_id = uuid7()
        async with self.pool.acquire() as conn, conn.transaction():
            source = await rows.get(conn, thread_id, access)
            if source is None:
                raise Conflict(f"Thread with ID {thread_id} not found")
            # The checkpoint rows first, the thread row last: its insert takes a row lock of
            # the thread counter (migration 0015), held to the commit, so not for the copy.
            await checkpoint_sql.copy_to_new_thread(conn, str(thread_id), str(new_id))
            row = await rows.copy(conn, thread_id, new_id, stamp or {})
        return wire.thread(row)

    async def prune(self, access: Access, thread_ids: list[uuid.UUID], strategy: str) -> int:
        """``delete``: delete the threads (as DELETE does); ``keep_latest``: keep only each
        thread's latest checkpoint. Returns how many threads were pruned."""
        if strategy not in TTL_STRATEGIES:
            raise InvalidInput("strategy must be 'delete' or 'keep_latest'")
        pruned = 0
        for tid in thread_ids:
            if strategy == "delete":
                try:
                    await self.delete(access, tid)
                except NotFound:
                    continue
            else:
                async with self.pool.acquire() as conn, conn.transaction():
                    if await rows.get(conn, tid, access, lock=True) is None:
                        continue
                    await checkpoint_sql.prune_keep_latest(conn, [str(tid)])
            pruned += 1
        return pruned

    async def storage(self, access: Access, thread_id: uuid.UUID) -> dict[str, Any]:
        """How much the thread's checkpoints take in the database (bytes as stored)."""
        async with self.pool.acquire() as conn:
            if await rows.get(conn, thread_id, access) is None:
                raise not_found(thread_id)
            row = await rows.checkpoint_sizes(conn, thread_id)
        parts = {
            "checkpoints": {"count": row["cp_count"], "bytes": int(row["cp_bytes"])},
            "channel_values": {"count": row["cv_count"], "bytes": int(row["cv_bytes"])},
            "pending_writes": {"count": row["pw_count"], "bytes": int(row["pw_bytes"])},
        }
        total = sum(p["bytes"] for p in parts.values())
        return {"thread_id": str(thread_id), "total_bytes": total, **parts}

    async def ids_for_assistant(self, access: Access, assistant_id: uuid.UUID) -> list[uuid.UUID]:
        """Threads an assistant ran on (``metadata.assistant_id``), as the caller sees them."""
        async with self.pool.acquire() as conn:
            return await rows.ids_for_assistant(conn, assistant_id, access)

    async def search(
        self, access: Access, **query: Unpack[ThreadSearch]
    ) -> tuple[list[wire.Thread], int]:
        where = self._where(access, query, ids=query["ids"])
        sort = sort_field(query["sort_by"], THREAD_SORT_FIELDS)
        columns = rows.COLUMNS
        if query["select"]:
            # "context" is in the SDK's list but is no thread column: ignored (API.md §13).
            fields = selected(query["select"], THREAD_SELECT_FIELDS, ignored=("context",))
            columns = ", ".join(f'"{name}"' for name in fields) or rows.KEY
        # The planner cannot estimate a values containment (no index: it would cost every
        # run's state write), so the page walks the sort's index (app.db.paging).
        return await THREADS.search(
            self.pool, where, query, columns=columns, sort_by=sort, walk_index=bool(query["values"])
        )

    async def count(self, access: Access, **query: Unpack[ThreadFilters]) -> int:
        where = self._where(access, query, ids=None)
        async with self.pool.acquire() as conn:
            return await rows.count(conn, where)

    @staticmethod
    def _where(access: Access, filters: ThreadFilters, *, ids: list[str] | None) -> Where:
        where = Where()
        parsed: list[uuid.UUID] | None = None
        if ids is not None:
            try:
                parsed = [parse_uuid(i, "thread") for i in ids]
            except InvalidInput as exc:
                raise BadRequest(exc.detail) from None
        rows.filters(
            where,
            metadata=filters["metadata"],
            values=filters["values"],
            status=filters["status"],
            ids=parsed,
        )
        access.apply(where)
        return where
