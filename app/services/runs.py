"""Run use cases: read, list, cancel, delete, wait (API.md §5); the create is
``app.services.run_create`` (``RunCreation``, which ``RunService`` completes).

Invariants kept here (DESIGN I1-I3): an ``interrupt``/``rollback`` create supersedes the
thread's inflight runs under the thread lock; a cancel locks the thread row, as every
create and finish does, so no promotion is missed.
"""

from __future__ import annotations

import builtins
import typing
import uuid
from typing import Any

from app.core import thread_status, wire
from app.core.access import Access
from app.core.enums import RunStatus
from app.core.errors import InvalidInput, NotFound
from app.core.fields import selected
from app.db import events as event_rows
from app.db import outcome as outcome_rows
from app.db import runs as rows
from app.db import statuses
from app.db import threads as thread_rows
from app.db.notify import RUN_CANCEL, RUN_DONE, notify
from app.db.types import Conn
from app.services.run_create import RunCreation
from app.services.waits import Waiter

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


class RunService(RunCreation):
    """Runs: created by ``RunCreation`` (``app.services.run_create``), read, listed,
    cancelled, deleted, waited for."""

    def waiter(self, run_id: uuid.UUID, *, fresh: bool = False) -> Waiter:
        """A wait for the run's end (``fresh``: this request created it)."""
        return Waiter(self.hub, self.outcome, run_id, fresh=fresh)

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
            await rows.delete(conn, thread_id, run_ids)
        else:
            await rows.mark_cancelled(conn, run_ids)
        for rid in run_ids:
            await notify(conn, RUN_DONE, str(rid))
        await event_rows.append(conn, thread_id, None, [event_rows.run_done(r) for r in run_ids])

    async def get(self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID) -> wire.Run:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, thread_id, run_id, access)
        if row is None:
            raise NotFound("Not Found")
        return wire.run(row)

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
            if row["status"] in statuses.INFLIGHT:
                raise InvalidInput("Cannot delete an active run. Cancel it first.")
            await rows.delete(conn, thread_id, [run_id])

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
            if thread is None or row is None or row["status"] in TERMINAL:
                raise NotFound(NO_RUN_TO_CANCEL)
            if row["status"] == "running":
                await rows.request_cancel(conn, run_id, action)
                await notify(conn, RUN_CANCEL, str(run_id))
                signal_cancel = True
            else:
                await self._end_not_started(conn, thread_id, [run_id], action)
                signal_ready = await outcome_rows.release(
                    conn,
                    thread_id,
                    status=thread_status.after_run(
                        failed=False, waiting=bool(thread["interrupts"])
                    ),
                    ready_payload=self.hub.ready_payload(),
                )
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
        wanted: tuple[str, ...] = statuses.INFLIGHT
        if thread_id is None and status == "pending":
            wanted = statuses.WAITING
        elif thread_id is None and status == "running":
            wanted = ("running",)
        async with self.pool.acquire() as conn:
            found = await rows.ids_in(
                conn,
                access,
                wanted,
                thread_id=thread_id,
                run_ids=None if thread_id is None else (run_ids or []),
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
        async with self.pool.acquire() as conn:
            found = await rows.ids_in(conn, access, statuses.INFLIGHT, assistant_id=assistant_id)
        return [(r["thread_id"], r["run_id"]) for r in found]

    async def exists(self, access: Access, thread_id: uuid.UUID, run_id: uuid.UUID) -> bool:
        async with self.pool.acquire() as conn:
            return await rows.get(conn, thread_id, run_id, access) is not None

    async def discard_temporary(self, thread_id: uuid.UUID) -> None:
        """Delete a stateless run's thread (on_completion=delete) once its output was read."""
        async with self.pool.acquire() as conn, conn.transaction():
            await thread_rows.delete_temporary(conn, thread_id)
