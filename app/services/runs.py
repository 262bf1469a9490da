"""Run use cases: create under the multitask rules (API.md §5.1), read, list, cancel, delete.

Invariants kept here (DESIGN I1-I3): a ``reject`` is a plain insert of an active run whose
unique violation becomes ThreadBusy; ``enqueue`` and the new run of ``interrupt``/``rollback``
wait as ``queued`` while the thread has an active run; every create locks the thread row, as
every finish does, so no promotion is missed; the run row is committed before we answer.
"""

from __future__ import annotations

import builtins
import time
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.checkpoint import sql as checkpoint_sql
from app.core import runs as rules
from app.core import wire
from app.core.bounded import ByteBoundedCache
from app.core.enums import RunStatus
from app.core.errors import InvalidInput, NotFound, ThreadBusy
from app.core.fields import selected
from app.core.ids import system_assistant_id, uuid7
from app.core.runs import RunCreate
from app.db import assistants as assistant_rows
from app.db import events as event_rows
from app.db import runs as rows
from app.db import statuses
from app.db import threads as thread_rows
from app.db.access import Access, Where
from app.db.errors import translated
from app.db.notify import RUN_CANCEL, RUN_DONE, RUN_READY, Hub, notify
from app.db.retry import on_conflict
from app.db.types import Conn
from app.graphs.registry import GraphRegistry
from app.services import webhooks
from app.services.threads import clean_metadata

NOT_FOUND = "Thread or assistant not found."
FAST = ("reject", "enqueue")
ASSISTANT_CACHE_SIZE = 256
ASSISTANT_CACHE_BYTES = 4 * 1024 * 1024
"""The assistants a run create remembers: at most this many bytes (as JSON) in all, none
over ``ASSISTANT_CACHE_ENTRY_BYTES`` (such an assistant is read each time)."""
ASSISTANT_CACHE_ENTRY_BYTES = 256 * 1024
NO_RUN_TO_CANCEL = "No matching runs to cancel. The run may have already finished."
TERMINAL = frozenset(statuses.TERMINAL)
RUN_STATUSES = typing.get_args(RunStatus)
CANCEL_ACTIONS = ("interrupt", "rollback")
RUN_SELECT_FIELDS = (
    "run_id",
    "thread_id",
    "assistant_id",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
)


def _check_action(action: str) -> None:
    if action not in CANCEL_ACTIONS:
        raise InvalidInput(f"Invalid action: {action!r}. Expected 'interrupt' or 'rollback'")


@dataclass
class Created:
    """A run inserted in an open transaction, and what to signal once it commits."""

    row: Mapping[str, Any]
    cancel_running: list[uuid.UUID]
    due: float | None = None
    """When a delayed (after_seconds) run becomes claimable, epoch seconds."""


class RunService:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        registry: GraphRegistry,
        hub: Hub,
        *,
        webhook_allow_private: bool = False,
    ) -> None:
        self.pool = pool
        self.registry = registry
        self.hub = hub
        self.webhook_allow_private = webhook_allow_private
        self._assistants: ByteBoundedCache[uuid.UUID, dict[str, Any]] = ByteBoundedCache(
            max_bytes=ASSISTANT_CACHE_BYTES,
            max_entry_bytes=ASSISTANT_CACHE_ENTRY_BYTES,
            max_entries=ASSISTANT_CACHE_SIZE,
        )
        """Assistants by id, as last read; a create checks ``updated_at`` in its statement."""

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

    async def assistant_row(self, conn: Conn, access: Access, assistant_id: str) -> asyncpg.Record:
        aid = self._assistant_id(assistant_id)
        row = await assistant_rows.get(conn, aid, access.of_assistant(), self.registry.ids)
        if row is None:
            raise NotFound(NOT_FOUND)
        return row

    async def create(
        self,
        access: Access,
        thread_id: uuid.UUID | None,
        body: RunCreate,
        *,
        waited: bool = False,
    ) -> wire.Run:
        """Create a run; ``thread_id=None`` makes a stateless run on a temporary thread.

        Raises ThreadBusy (reject on a busy thread), NotFound, InvalidInput, BadRequest.
        """
        created = None
        if thread_id is not None and (body.multitask_strategy or "enqueue") in FAST:
            created = await self._create_on_thread(access, thread_id, body, waited)
        if created is None:
            async with self.pool.acquire() as conn, conn.transaction():
                created = await self.create_in(conn, access, thread_id, body, waited=waited)
        self.after_commit(created)
        return wire.run(created.row)

    async def _create_on_thread(
        self, access: Access, thread_id: uuid.UUID, body: RunCreate, waited: bool
    ) -> Created | None:
        """The usual create, a ``reject`` or ``enqueue`` run on an existing thread, in one
        statement (``db.runs.create_on_thread``); None when the general path must decide
        (thread missing or hidden: ``if_not_exists``, 404; assistant changed or gone)."""
        rules.validate(body, stateless=False)
        if body.webhook:
            await webhooks.check(body.webhook, allow_private=self.webhook_allow_private)
        strategy = body.multitask_strategy or "enqueue"
        aid = self._assistant_id(body.assistant_id)
        assistant = self._assistants.get(aid)
        if assistant is None:
            async with self.pool.acquire() as conn:
                found = await assistant_rows.get(
                    conn, aid, access.of_assistant(), self.registry.ids
                )
            if found is None:
                return None  # the general path answers 404
            assistant = self._remember(dict(found))
        run_id = uuid7()
        kwargs = self._kwargs(body, assistant, thread_id, run_id, False, waited, access)
        delay = float(body.after_seconds or 0)
        due = time.time() + delay if delay > 0 else None

        async def create() -> Any:
            async with self.pool.acquire() as conn:
                return await rows.create_on_thread(
                    conn,
                    run_id=run_id,
                    thread_id=thread_id,
                    access=access,
                    assistant_id=aid,
                    assistant_updated_at=assistant["updated_at"],
                    graph_ids=self.registry.ids,
                    graph_id=assistant["graph_id"],
                    strategy=strategy,
                    metadata_before=assistant["metadata"] or {},
                    metadata_after=self._run_metadata(body, assistant),
                    kwargs=kwargs,
                    delay_seconds=delay,
                    ready_payload=self.hub.ready_payload(due),
                )

        # Creates racing on one thread can deadlock on its row lock (PostgreSQL aborts
        # one); the aborted one did nothing, so it runs again.
        row = await on_conflict(create, f"creating a run on thread {thread_id}")
        if row["run_id"] is not None:
            return Created({k: row[k] for k in rows.COLUMN_NAMES}, [], due)
        if not row["assistant_ok"]:
            self._assistants.pop(aid)  # changed or gone: the general path reads it
            return None
        if not row["thread_found"]:
            return None
        raise ThreadBusy()  # reject: the one-active-run index holds a run of this thread

    def cache_stats(self) -> dict[str, int]:
        """The assistant cache: entries and their bytes (JSON)."""
        return {"entries": len(self._assistants), "bytes": self._assistants.bytes}

    def _remember(self, assistant: dict[str, Any]) -> dict[str, Any]:
        self._assistants.put(assistant["assistant_id"], assistant)
        return assistant

    @staticmethod
    def _run_metadata(
        body: RunCreate, assistant: Mapping[str, Any], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The run's metadata after the assistant's and the thread's (which come first)."""
        return {
            **((body.config or {}).get("metadata") or {}),
            **clean_metadata(body.metadata),
            **(extra or {}),
            "assistant_id": str(assistant["assistant_id"]),
        }

    def after_commit(self, created: Created) -> None:
        """Wake this process's workers (and cancel superseded runs) once committed."""
        if created.row["status"] == "pending":
            if created.due is not None:
                self.hub.note_due(created.due)
            self.hub.signal_ready()
        for rid in created.cancel_running:
            self.hub.signal_cancel(rid)

    async def create_in(
        self,
        conn: Conn,
        access: Access,
        thread_id: uuid.UUID | None,
        body: RunCreate,
        *,
        waited: bool = False,
        extra_metadata: dict[str, Any] | None = None,
    ) -> Created:
        """``create`` inside the caller's transaction (the cron scheduler's, which also
        moves the cron forward); call ``after_commit`` once it committed.

        Two statements on the usual path: lock the thread (reading the assistant with it),
        then insert the run, mark the thread busy and queue the NOTIFY."""
        stateless = thread_id is None
        rules.validate(body, stateless=stateless)
        if body.webhook:
            await webhooks.check(body.webhook, allow_private=self.webhook_allow_private)
        strategy = "enqueue" if stateless else (body.multitask_strategy or "enqueue")
        if_not_exists = "create" if stateless else (body.if_not_exists or "reject")
        tid = thread_id or uuid7()
        run_id = uuid7()
        cancel_running: list[uuid.UUID] = []
        aid = self._assistant_id(body.assistant_id)
        found = (
            None if stateless else await rows.lock_thread(conn, tid, access, aid, self.registry.ids)
        )
        if found is not None:
            if found["assistant"] is None:
                raise NotFound(NOT_FOUND)
            assistant: dict[str, Any] = found["assistant"]
            assistant["assistant_id"] = uuid.UUID(assistant["assistant_id"])
            thread_metadata = found["metadata"]
            if strategy == "reject" and found["busy"]:
                raise ThreadBusy()  # busy when we asked; the insert would fail the same way
        else:
            assistant = dict(await self.assistant_row(conn, access, body.assistant_id))
            if if_not_exists != "create":
                raise NotFound(NOT_FOUND)
            thread = await thread_rows.insert(conn, tid, dict(access.stamp))
            if thread is None:  # exists but hidden from this caller
                raise NotFound(NOT_FOUND)
            thread_metadata = thread["metadata"]
        if strategy == "reject":
            status = "pending"
        elif strategy == "enqueue":
            status = "auto"  # queued behind an active run, else pending (decided in SQL)
        else:
            cancel_running = await self._supersede(conn, tid, strategy)
            status = "queued" if cancel_running else "pending"
        kwargs = self._kwargs(body, assistant, tid, run_id, stateless, waited, access)
        metadata = {
            **(assistant["metadata"] or {}),
            **(thread_metadata or {}),
            **self._run_metadata(body, assistant, extra_metadata),
        }
        delay = float(body.after_seconds or 0)
        due = time.time() + delay if delay > 0 else None
        with translated():
            row = await rows.insert(
                conn,
                run_id=run_id,
                thread_id=tid,
                assistant_id=assistant["assistant_id"],
                graph_id=assistant["graph_id"],
                status=status,
                multitask_strategy=strategy,
                metadata=metadata,
                kwargs=kwargs,
                temporary=stateless,
                delay_seconds=delay,
                ready_payload=self.hub.ready_payload(due),
            )
        return Created(row, cancel_running, due)

    async def _supersede(self, conn: Conn, thread_id: uuid.UUID, action: str) -> list[uuid.UUID]:
        """Cancel every inflight run of the thread for a new interrupt/rollback run.

        Runs not started end at once (interrupt: ``interrupted``; rollback: deleted with
        their checkpoints); running ones are asked to stop and return here, so the new run
        waits behind them. Caller holds the thread lock.
        """
        inflight = await rows.inflight(conn, thread_id)
        waiting = [r["run_id"] for r in inflight if r["status"] != "running"]
        running = [r["run_id"] for r in inflight if r["status"] == "running"]
        if waiting:
            await self._end_not_started(conn, thread_id, waiting, action)
        for rid in running:
            await rows.request_cancel(conn, rid, action)
            await notify(conn, RUN_CANCEL, str(rid))
        return running

    async def _end_not_started(
        self, conn: Conn, thread_id: uuid.UUID, run_ids: list[uuid.UUID], action: str
    ) -> None:
        if action == "rollback":
            await checkpoint_sql.delete_for_runs(conn, [str(r) for r in run_ids], str(thread_id))
            for rid in run_ids:
                await rows.delete(conn, rid)
        else:
            await rows.mark_cancelled(conn, run_ids)
        for rid in run_ids:
            await notify(conn, RUN_DONE, str(rid))
        await event_rows.append(conn, thread_id, None, [event_rows.run_done(r) for r in run_ids])

    def _kwargs(
        self,
        body: RunCreate,
        assistant: Mapping[str, Any],
        thread_id: uuid.UUID,
        run_id: uuid.UUID,
        stateless: bool,
        waited: bool,
        access: Access,
    ) -> dict[str, Any]:
        config = rules.merge_config(assistant["config"] or {}, body.config)
        configurable = config["configurable"]
        for key, value in access.configurable.items():
            # The caller (API.md §11) always; request headers unless the config has the key.
            if key in rules.RESERVED_CONFIGURABLE:
                configurable[key] = value
            else:
                configurable.setdefault(key, value)
        context = {
            k: v
            for k, v in {**(assistant["context"] or {}), **(body.context or {})}.items()
            if k not in rules.RESERVED_CONFIGURABLE
        }
        configurable.update(
            {
                "run_id": str(run_id),
                "thread_id": str(thread_id),
                "graph_id": assistant["graph_id"],
                "assistant_id": str(assistant["assistant_id"]),
            }
        )
        checkpoint = body.checkpoint
        if checkpoint is not None:
            for key in ("checkpoint_ns", "checkpoint_id", "checkpoint_map"):
                value = getattr(checkpoint, key)
                if value is not None:
                    configurable[key] = value
        if body.checkpoint_id:
            configurable["checkpoint_id"] = body.checkpoint_id
        if configurable.get("checkpoint_id"):
            try:
                uuid.UUID(str(configurable["checkpoint_id"]))
            except ValueError:
                raise InvalidInput("Invalid checkpoint_id: must be a UUID") from None
        return {
            "input": body.input,
            "command": body.command,
            "config": config,
            "context": context,
            "stream_mode": rules.stream_modes(body),
            "interrupt_before": body.interrupt_before,
            "interrupt_after": body.interrupt_after,
            "webhook": body.webhook,
            "feedback_keys": body.feedback_keys,
            "temporary": stateless,
            "subgraphs": bool(body.stream_subgraphs),
            "resumable": bool(body.stream_resumable),
            "strict_resume": bool(body.strict_resume),
            "checkpoint_during": body.checkpoint_during,
            "durability": rules.durability(body),
            "on_completion": (body.on_completion or "delete") if stateless else None,
            "waited": waited,
        }

    async def get(self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID) -> wire.Run:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, thread_id, run_id, access)
        if row is None:
            raise NotFound("Not Found")
        return wire.run(row)

    async def create_batch(
        self, accesses: builtins.list[Access], bodies: builtins.list[RunCreate]
    ) -> builtins.list[wire.Run]:
        """Stateless runs created together, in one transaction: all of them or none
        (``accesses``: each body's, from the access door)."""
        async with self.pool.acquire() as conn, conn.transaction():
            created = [
                await self.create_in(conn, access, None, body)
                for access, body in zip(accesses, bodies, strict=True)
            ]
        for one in created:
            self.after_commit(one)
        return [wire.run(one.row) for one in created]

    async def list(
        self,
        access: Access,
        thread_id: uuid.UUID,
        *,
        limit: int,
        offset: int,
        status: str | None,
        select: list[str] | None,
    ) -> list[wire.Run]:
        if status is not None and status not in RUN_STATUSES:
            raise InvalidInput(f"Invalid status: {status!r}. Expected one of {list(RUN_STATUSES)}")
        columns = rows.COLUMNS
        if select:
            # "cancel_reason" is in the SDK's list but not a run field: ignored (API.md §13).
            wanted = selected(select, RUN_SELECT_FIELDS, ignored=("cancel_reason",))
            columns = ", ".join([*wanted, "status"] if "status" not in wanted else wanted)
        async with self.pool.acquire() as conn:
            if await thread_rows.get(conn, thread_id, access) is None:
                raise NotFound(f"Thread with ID {thread_id} not found")
            found = await rows.list_for_thread(
                conn, thread_id, columns=columns, status=status, limit=limit, offset=offset
            )
        return [wire.run(r, only=select) for r in found]

    async def delete(self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
        """Delete a run that is not active, and the checkpoints it wrote."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.get(conn, thread_id, run_id, access)
            if row is None:
                raise NotFound("Not Found")
            if row["status"] in ("pending", "running", "queued"):
                raise InvalidInput("Cannot delete an active run. Cancel it first.")
            await checkpoint_sql.delete_for_runs(conn, [str(run_id)], str(thread_id))
            await rows.delete(conn, run_id)

    async def cancel(
        self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID, action: str
    ) -> None:
        """Cancel a pending or running run (API.md §5.5). A run not started ends now; a
        running one is asked to stop at its next await point, by whichever worker has it."""
        _check_action(action)
        signal_cancel = signal_ready = False
        async with self.pool.acquire() as conn, conn.transaction():
            thread = await thread_rows.get(conn, thread_id, access, lock=True)
            row = await rows.get(conn, thread_id, run_id, access) if thread else None
            if row is None or row["status"] in TERMINAL:
                raise NotFound(NO_RUN_TO_CANCEL)
            if row["status"] == "running":
                await rows.request_cancel(conn, run_id, action)
                await notify(conn, RUN_CANCEL, str(run_id))
                signal_cancel = True
            else:
                await self._end_not_started(conn, thread_id, [run_id], action)
                if await rows.promote_next(conn, thread_id) is not None:
                    await notify(conn, RUN_READY, self.hub.ready_payload())
                    signal_ready = True
                if not await rows.has_inflight(conn, thread_id):
                    status = "interrupted" if thread and thread["interrupts"] else "idle"
                    await thread_rows.set_status(conn, thread_id, status)
        if signal_cancel:
            self.hub.signal_cancel(run_id)
        else:
            self.hub.signal_done(run_id)
        if signal_ready:
            self.hub.signal_ready()

    async def cancel_many(
        self,
        access: Access,
        *,
        thread_id: uuid.UUID | None,
        run_ids: builtins.list[uuid.UUID] | None,
        status: str | None,
        action: str,
    ) -> int:
        """Cancel the given runs of a thread, or every run in ``status`` (pending, running
        or all) across threads; NotFound when none matched."""
        _check_action(action)
        where = Where()
        if thread_id is not None:
            where.add(f"r.thread_id = {where.param(thread_id)}")
            where.add(f"r.run_id = ANY({where.param(run_ids or [])}::uuid[])")
            where.add("r.status IN ('pending', 'running', 'queued')")
        elif status == "pending":
            where.add("r.status IN ('pending', 'queued')")
        elif status == "running":
            where.add("r.status = 'running'")
        else:
            where.add("r.status IN ('pending', 'running', 'queued')")
        access.apply(where, "t.metadata")
        async with self.pool.acquire() as conn:
            found = await conn.fetch(
                f"SELECT r.thread_id, r.run_id FROM runs r JOIN threads t USING (thread_id) "
                f"WHERE {where.sql()} ORDER BY r.created_at DESC",
                *where.params,
            )
        cancelled = 0
        for row in found:
            try:
                await self.cancel(access, row["thread_id"], row["run_id"], action)
                cancelled += 1
            except NotFound:  # it ended meanwhile
                continue
        if not cancelled:
            raise NotFound("No runs found to cancel.")
        return cancelled

    async def outcome(self, run_id: uuid.UUID) -> tuple[bool, Any]:
        """(ended, output) of a run; a run that no longer exists counts as ended with ``None``."""
        async with self.pool.acquire() as conn:
            row = await rows.status_of(conn, run_id)
        if row is None:
            return True, None
        if row["status"] in TERMINAL:
            return True, row["output"] if row["output"] is not None else {}
        return False, None

    async def find(
        self, access: Access, thread_id: uuid.UUID | None, run_id: uuid.UUID
    ) -> wire.Run | None:
        """The run (on that thread, or any thread when None) as the wire shows it, or None."""
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, thread_id, run_id, access)
        return None if row is None else wire.run(row)

    async def active_for_assistant(
        self, access: Access, assistant_id: uuid.UUID
    ) -> builtins.list[tuple[uuid.UUID, uuid.UUID]]:
        """(thread id, run id) of the assistant's runs not ended yet."""
        where = Where()
        where.add(f"r.assistant_id = {where.param(assistant_id)}")
        where.add("r.status IN ('pending', 'running', 'queued')")
        access.apply(where, "t.metadata")
        async with self.pool.acquire() as conn:
            found = await conn.fetch(
                f"SELECT r.thread_id, r.run_id FROM runs r JOIN threads t USING (thread_id) "
                f"WHERE {where.sql()} ORDER BY r.created_at DESC",
                *where.params,
            )
        return [(r["thread_id"], r["run_id"]) for r in found]

    async def exists(self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID) -> bool:
        async with self.pool.acquire() as conn:
            return await rows.get(conn, thread_id, run_id, access) is not None

    async def discard_temporary(self, thread_id: uuid.UUID) -> None:
        """Delete a stateless run's thread (on_completion=delete) once its output was read."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM threads WHERE thread_id = $1 AND NOT EXISTS (SELECT 1 FROM runs "
                "WHERE thread_id = $1 AND status IN ('pending', 'running', 'queued'))",
                thread_id,
            )
            await checkpoint_sql.delete_threads(conn, [str(thread_id)])
