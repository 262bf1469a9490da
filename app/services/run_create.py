"""Creating runs under the multitask rules (API.md §5.1): the one create path.

A create is checked once into a ``RunRequest`` (``app.core.runs``: validation, defaults,
ids), its webhook address once (a DNS lookup), its assistant read once (and remembered
between creates). Then one statement (``app.db.run_create.create_on_thread``) puts the run
on its thread; it alone decides whether the thread is busy, by the one-active-run index
(DESIGN I1): on a busy thread a ``reject`` inserts nothing (ThreadBusy, 409), any other
strategy's run waits as ``queued`` (I2). On an existing thread a ``reject`` or ``enqueue`` is that
statement and nothing else. An ``interrupt`` or ``rollback`` first locks the thread and
supersedes its runs (``RunService._supersede``); a missing thread (``if_not_exists=create``,
a stateless run) is inserted first; both in one transaction with the statement. The run
row is committed before we answer (I3).
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec

from app.core import wire
from app.core.access import Access, Caller
from app.core.bounded import ByteBoundedCache
from app.core.errors import InvalidInput, NotFound, ThreadBusy
from app.core.ids import system_assistant_id
from app.core.runs import RunCreate, RunRequest
from app.db import assistants as assistant_rows
from app.db import run_create as statements
from app.db import runs as rows
from app.db import threads as thread_rows
from app.db.errors import translated
from app.db.notify import Hub
from app.db.retry import on_conflict
from app.db.types import Conn
from app.graphs.registry import GraphRegistry
from app.observability import metrics, tracing
from app.services import webhooks
from app.services.threads import clean_metadata
from app.services.webhooks import WebhookPolicy

NOT_FOUND = "Thread or assistant not found."
ASSISTANT_CACHE_SIZE = 256
ASSISTANT_CACHE_BYTES = 4 * 1024 * 1024
"""The assistants a run create remembers: at most this many bytes (as JSON) in all, none
over ``ASSISTANT_CACHE_ENTRY_BYTES`` (such an assistant is read each time)."""
ASSISTANT_CACHE_ENTRY_BYTES = 256 * 1024


@dataclass
class Created:
    """A run inserted (committed, or in an open transaction), and what to signal once it
    commits."""

    row: Mapping[str, Any]
    cancel_running: list[uuid.UUID] = field(default_factory=list)
    due: float | None = None
    """When a delayed (after_seconds) run becomes claimable, epoch seconds."""


class RunCreation(abc.ABC):
    """The create half of ``RunService`` (``app.services.runs``), which supplies
    ``_supersede``."""

    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        registry: GraphRegistry,
        hub: Hub,
        *,
        webhooks: WebhookPolicy | None = None,
        thread_ttl: tuple[float, str] | None = None,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.hub = hub
        self.webhooks = webhooks or WebhookPolicy()
        self.thread_ttl = thread_ttl
        """What a thread the create makes expires after (``checkpointer.ttl``)."""
        self._assistants: ByteBoundedCache[uuid.UUID, dict[str, Any]] = ByteBoundedCache(
            max_bytes=ASSISTANT_CACHE_BYTES,
            max_entry_bytes=ASSISTANT_CACHE_ENTRY_BYTES,
            max_entries=ASSISTANT_CACHE_SIZE,
        )
        """Assistants by id, as last read; a create checks ``updated_at`` in its statement."""

    @abc.abstractmethod
    async def _supersede(self, conn: Conn, thread_id: uuid.UUID, action: str) -> list[uuid.UUID]:
        """Cancel the thread's inflight runs for a new interrupt/rollback run; the running
        ones, which the new run waits behind. Caller holds the thread lock."""

    async def create(
        self,
        access: Access,
        caller: Caller,
        thread_id: uuid.UUID | None,
        body: RunCreate,
        *,
        waited: bool = False,
        only_output: bool = False,
    ) -> wire.Run:
        """Create a run; ``thread_id=None`` makes a stateless run on a temporary thread;
        ``only_output``: its client waits for the output (``RunRequest.only_output``).

        Raises ThreadBusy (reject on a busy thread), NotFound, InvalidInput, BadRequest.
        """
        request = await self._checked(body, thread_id, waited=waited, only_output=only_output)
        aid = self._assistant_id(body.assistant_id)
        created = None
        one_statement = not request.stateless and not request.supersedes
        if one_statement:
            assistant = await self._assistant(None, access, aid)
            created = await self._put(None, access, caller, request, aid, assistant)
            if created is None and request.if_not_exists != "create":
                raise NotFound(NOT_FOUND)
        if created is None:  # stateless, superseding, or the thread is missing
            async with self.pool.acquire() as conn, conn.transaction():
                created = await self._in(conn, access, caller, request, aid, missing=one_statement)
        self.after_commit(created)
        return wire.run(created.row)

    async def create_in(
        self,
        conn: Conn,
        access: Access,
        caller: Caller,
        thread_id: uuid.UUID | None,
        body: RunCreate,
        *,
        waited: bool = False,
        extra_metadata: dict[str, Any] | None = None,
    ) -> Created:
        """``create`` inside the caller's transaction (the cron scheduler's, which also
        moves the cron forward); call ``after_commit`` once it committed."""
        request = await self._checked(body, thread_id, waited=waited, extra_metadata=extra_metadata)
        aid = self._assistant_id(body.assistant_id)
        return await self._in(conn, access, caller, request, aid)

    async def create_batch(
        self, doors: Sequence[tuple[Access, Caller]], bodies: Sequence[RunCreate]
    ) -> list[wire.Run]:
        """Stateless runs created together, in one transaction: all of them or none
        (``doors``: each body's access and caller, from the access door)."""
        async with self.pool.acquire() as conn, conn.transaction():
            created = [
                await self.create_in(conn, access, caller, None, body)
                for (access, caller), body in zip(doors, bodies, strict=True)
            ]
        for one in created:
            self.after_commit(one)
        return [wire.run(one.row) for one in created]

    def after_commit(self, created: Created) -> None:
        """Wake this process's workers (and cancel superseded runs) once committed."""
        metrics.run_created(created.row["multitask_strategy"])
        if created.row["status"] == "pending":
            if created.due is not None:
                self.hub.note_due(created.due)
            self.hub.signal_ready()
        for rid in created.cancel_running:
            self.hub.signal_cancel(rid)

    async def assistant_row(self, conn: Conn, access: Access, assistant_id: str) -> asyncpg.Record:
        """The assistant a run of ``assistant_id`` (a graph id or a UUID) would run; NotFound
        when missing or hidden."""
        aid = self._assistant_id(assistant_id)
        row = await assistant_rows.get(conn, aid, access.of_assistant(), self.registry.ids)
        if row is None:
            raise NotFound(NOT_FOUND)
        return row

    def cache_stats(self) -> dict[str, int]:
        """The assistant cache: entries and their bytes (JSON)."""
        return {"entries": len(self._assistants), "bytes": self._assistants.bytes}

    async def _checked(
        self,
        body: RunCreate,
        thread_id: uuid.UUID | None,
        *,
        waited: bool,
        only_output: bool = False,
        extra_metadata: dict[str, Any] | None = None,
    ) -> RunRequest:
        """The request, validated, and its webhook address checked (a relative one made
        absolute on this server): once per create."""
        if body.webhook:
            url = webhooks.absolute(body.webhook, self.webhooks)
            await webhooks.check(url, self.webhooks)
            if url != body.webhook:
                body = msgspec.structs.replace(body, webhook=url)
        return RunRequest.of(
            body, thread_id, waited=waited, only_output=only_output, extra_metadata=extra_metadata
        )

    def _assistant_id(self, assistant_id: str) -> uuid.UUID:
        """A graph id names its system assistant; anything else must be an assistant UUID."""
        if assistant_id in self.registry:
            return system_assistant_id(assistant_id)
        try:
            return uuid.UUID(assistant_id)
        except ValueError:
            raise InvalidInput(
                f"Invalid assistant: '{assistant_id}'. Must be either: a valid assistant "
                f"UUID or one of the registered graphs: {self.registry.ids}"
            ) from None

    async def _assistant(self, conn: Conn | None, access: Access, aid: uuid.UUID) -> dict[str, Any]:
        """The assistant as remembered, else as read now (on ``conn``, or a connection of
        the pool); NotFound when missing or hidden."""
        assistant = self._assistants.get(aid)
        if assistant is not None:
            return assistant
        if conn is None:
            async with self.pool.acquire() as fresh:
                return await self._assistant(fresh, access, aid)
        found = await assistant_rows.get(conn, aid, access.of_assistant(), self.registry.ids)
        if found is None:
            raise NotFound(NOT_FOUND)
        assistant = dict(found)
        self._assistants.put(aid, assistant)
        return assistant

    async def _in(
        self,
        conn: Conn,
        access: Access,
        caller: Caller,
        request: RunRequest,
        aid: uuid.UUID,
        *,
        missing: bool = False,
    ) -> Created:
        """The create in ``conn``'s transaction: supersede first (interrupt, rollback),
        insert a missing thread first (stateless, ``if_not_exists='create'``).
        ``missing``: the statement found no thread already."""
        assistant = await self._assistant(conn, access, aid)
        tid = request.thread_id
        if not request.stateless and not missing:
            superseded: list[uuid.UUID] = []
            thread = None
            if request.supersedes:
                thread = await thread_rows.get(conn, tid, access, lock=True)
            if thread is not None:
                superseded = await self._supersede(conn, tid, request.strategy)
            # The statement finds no thread when it is missing (or hidden): None.
            created = await self._put(conn, access, caller, request, aid, assistant, superseded)
            if created is not None:
                return created
        if request.if_not_exists != "create":
            raise NotFound(NOT_FOUND)
        # None when it exists: made meanwhile by another create (the statement then finds
        # it), or hidden from this caller (the statement does not: 404).
        await thread_rows.insert(conn, tid, dict(caller.stamp), ttl=self.thread_ttl)
        created = await self._put(conn, access, caller, request, aid, assistant)
        if created is None:
            raise NotFound(NOT_FOUND)
        return created

    async def _put(
        self,
        conn: Conn | None,
        access: Access,
        caller: Caller,
        request: RunRequest,
        aid: uuid.UUID,
        assistant: dict[str, Any],
        superseded: list[uuid.UUID] | None = None,
    ) -> Created | None:
        """The statement (in ``conn``'s transaction, or on its own with a connection of
        the pool); None when the thread is missing or hidden. An assistant changed or gone
        since it was read is read again. Raises ThreadBusy (reject on a busy thread)."""
        while True:
            values: dict[str, Any] = {
                "run_id": request.run_id,
                "thread_id": request.thread_id,
                "access": access,
                "assistant_id": aid,
                "assistant_updated_at": assistant["updated_at"],
                "graph_ids": self.registry.ids,
                "graph_id": assistant["graph_id"],
                "strategy": request.strategy,
                "queue": request.queues,
                "temporary": request.stateless,
                "metadata_before": assistant["metadata"] or {},
                "metadata_after": _run_metadata(request, assistant),
                # traces on: the request's span, for the run's to continue (in any process)
                "kwargs": tracing.stamp(request.kwargs(assistant, caller.configurable)),
                "delay_seconds": request.delay,
                "ready_payload": self.hub.ready_payload(request.due),
            }
            row = await self._statement(conn, values, request.thread_id)
            if row["run_id"] is not None:
                created = {k: row[k] for k in rows.COLUMN_NAMES}
                return Created(created, superseded or [], request.due)
            if not row["assistant_ok"]:
                self._assistants.pop(aid)
                assistant = await self._assistant(conn, access, aid)
                continue
            if not row["thread_found"]:
                return None
            raise ThreadBusy()  # reject: the one-active-run index holds a run of this thread

    async def _statement(
        self, conn: Conn | None, values: dict[str, Any], thread_id: uuid.UUID
    ) -> asyncpg.Record:
        """``create_on_thread`` in ``conn``'s transaction, or on a connection of the pool."""
        if conn is not None:
            with translated():
                return await statements.create_on_thread(conn, **values)

        async def create() -> asyncpg.Record:
            async with self.pool.acquire() as fresh:
                with translated():
                    return await statements.create_on_thread(fresh, **values)

        # Creates racing on one thread can deadlock on its row lock (PostgreSQL aborts
        # one); the aborted one did nothing, so it runs again.
        return await on_conflict(create, f"creating a run on thread {thread_id}")


def _run_metadata(request: RunRequest, assistant: Mapping[str, Any]) -> dict[str, Any]:
    """The run's metadata after the assistant's and the thread's (which come first): its
    graph's id (the request's metadata may say otherwise, as on the reference), the config's
    and the request's metadata, then its assistant's id."""
    body = request.body
    return {
        "graph_id": assistant["graph_id"],
        **((body.config or {}).get("metadata") or {}),
        **clean_metadata(body.metadata),
        **request.extra_metadata,
        "assistant_id": str(assistant["assistant_id"]),
    }
