"""A run's finish: after its graph stopped, one transaction writes the outcome.

``Finisher.finish`` reads the run's final state from the graph (its values, interrupts and
whether it waits on a next step) and then, in one transaction (``app.db.outcome``), locks
the thread row (writing the run's last checkpoint rows, which its writer left to the
finish), writes the run's terminal status, output and last stream events (fenced by
its lease epoch and token, DESIGN I4), queues the webhook (an outbox row that commits with
the end), refreshes the thread's status (``app.core.thread_status``) and values, promotes
the next queued run and NOTIFYs, so a joiner never sees a finished run on a busy-looking
thread (DESIGN I3). A run alone on its thread (the common case) does all of it in one
statement (``outcome.finish_alone``), which writes nothing where a transaction is needed.
A run cancelled with ``rollback`` is deleted with its checkpoints
instead; a stateless run's thread (``on_completion="delete"``) goes with its run.

Hand-backs also live here: at shutdown a run goes back ``pending`` (not counted as an
attempt); a run whose latest checkpoint the database lost (``ProgressLost``: a failover, a
crash with ``synchronous_commit = off``) goes back counted, to re-run from the checkpoint
that survived.

Database faults: the reads and the transaction ride out a fault for as long as it takes
(the outcome is all that is left to do); a transaction retried after a lost
acknowledgement finds its own commit (``outcome.finished_under``). Only the pool's
shutdown stops them: the run is then re-claimed once its lease expires.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import msgspec

from app.checkpoint.sql import LeaseLost
from app.core import thread_status, wire
from app.core.jsonable import plain
from app.db import events as event_rows
from app.db import outcome as outcome_rows
from app.db import runs as run_rows
from app.db import threads as thread_rows
from app.db import webhooks as delivery_rows
from app.db.notify import RUN_DONE, RUN_READY, Hub, notify
from app.db.retry import Backoff, retrying, transient
from app.db.run_batch import Batch
from app.observability import metrics, tracing
from app.worker.claimed import ClaimedRun
from app.worker.webhooks import WebhookSender

log = logging.getLogger("turnstile.worker")

T = TypeVar("T")


class ProgressLost(Exception):
    """The attempt's latest checkpoint is gone from the database: PostgreSQL lost commits
    the attempt had seen succeed (a failover, a crash with ``synchronous_commit = off``)."""


class Finisher:
    def __init__(
        self, pool: asyncpg.Pool[Any], hub: Hub, webhooks: WebhookSender, *, db_retry_seconds: float
    ) -> None:
        self.pool = pool
        self.hub = hub
        self.webhooks = webhooks
        """Sends the deliveries the finishes queue (woken after a commit that queued one)."""
        self.db_retry_seconds = db_retry_seconds

    async def finish(
        self,
        run: ClaimedRun,
        graph: Any,
        *,
        status: str,
        error: dict[str, Any] | None,
        events: list[tuple[str, str]],
        checkpoint: str | None = None,
        state: Batch | None = None,
    ) -> None:
        """Write the outcome. ``checkpoint``: the attempt's latest root checkpoint committed
        so far; if the database no longer has it, the outcome read from the thread's state
        would not be this run's, so the run is handed back instead (counted as an attempt)
        and re-runs from the checkpoint that survived. ``state``: the checkpoint rows the
        run's writer left (``RunWriter.hand_over``), written under the lock (not for a
        ``rollback``, which deletes the run's checkpoints anyway)."""
        # Its reads and its transaction ride out a fault for as long as it takes: the
        # outcome is all that is left to do, and it needs the database either way. Only
        # the pool's shutdown stops them (the run is then re-claimed once its lease
        # expires, and resumes from its last committed checkpoint).
        backoff = Backoff(math.inf, give_up=lambda: run.shutdown)
        cancelled = status == "interrupted"
        if cancelled:
            # The action comes from the row: the cancel may have reached us as a bare signal.
            action = await self._read(
                run, "reading its cancel action", lambda: self._action(run), backoff
            )
            run.cancel_action = action or run.cancel_action or "interrupt"
        rollback = cancelled and run.cancel_action == "rollback"
        values: Any = None
        interrupts: dict[str, Any] = {}
        has_next = False
        if not rollback:
            values, interrupts, has_next = await self._read(
                run, "reading its final state", lambda: self._state(graph, run.thread_id), backoff
            )
        output: Any
        if error is not None:
            output = {"__error__": error}
        elif cancelled:
            output = {}
        else:
            output = values if values is not None else {}
            flat = [i for items in interrupts.values() for i in items]
            if flat and isinstance(output, dict):
                output = {**output, "__interrupt__": flat}
        delete_thread = (
            run.temporary
            and run.kwargs.get("on_completion") == "delete"
            and not run.kwargs.get("waited")
        )
        settlement = outcome_rows.Settlement(
            status=thread_status.after_run(failed=error is not None, waiting=has_next),
            values=values,
            interrupts=interrupts,
            error=error,
            ready_payload=self.hub.ready_payload(),
        )
        # The last events commit with the status: a reader that sees the run ended has
        # every event of it (DESIGN I3).
        ended = outcome_rows.Outcome(
            run.run_id,
            run.thread_id,
            run.epoch,
            run.token,
            status,
            output,
            error,
            events,
            thread_events=[] if delete_thread else [event_rows.run_done(run.run_id)],
            checkpoint_id=checkpoint,
            when_watched=run.events_when_watched,
        )
        # With a webhook, its payload (the run's row as ended) goes between the outcome
        # and the settlement; without, they are one statement.
        hooked = bool(run.kwargs.get("webhook")) and self.webhooks.policy.enabled
        # The finish's NOTIFY may reach this process's hub before the commit returns
        # here; the hub leaves the signal to us then, with the output in hand.
        self.hub.finishing.add(run.run_id)

        async def transaction(conn: Any, retried: bool) -> tuple[bool, dict[str, Any] | None]:
            """(promoted, webhook payload); raises LeaseLost (nothing written) if the run
            is no longer ours, and returns at once if a try before this one committed."""
            hook: dict[str, Any] | None = None
            locked = await outcome_rows.lock(
                conn,
                run.thread_id,
                run.run_id,
                run.epoch,
                run.token,
                None if rollback else state,
            )
            if not locked["held"]:
                if retried and await outcome_rows.finished_under(
                    conn, run.run_id, run.epoch, run.token
                ):
                    # An earlier try committed; only its acknowledgement was lost.
                    log.info("run %s: its finish had committed", run.run_id)
                    return True, None  # perhaps promoted: a spare wake-up is harmless
                raise LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch}")
            if rollback:
                promoted = await self._rollback(
                    conn,
                    run,
                    locked["interrupts"],
                    locked["thread_exists"] and not delete_thread,
                )
            else:
                written = await outcome_rows.write(
                    conn,
                    ended
                    if locked["thread_exists"]
                    else dataclasses.replace(ended, thread_events=(), checkpoint_id=None),
                    None if hooked else settlement,
                )
                if not written.finished:  # the run row is locked and held: checkpoint gone
                    raise ProgressLost(f"checkpoint {checkpoint} of run {run.run_id} is gone")
                promoted = written.promoted
                if hooked:  # the outbox row commits with the end
                    hook = await self._webhook_payload(conn, run, values, error)
                    await delivery_rows.insert(conn, run.run_id, run.kwargs["webhook"], hook)
                    promoted = await outcome_rows.settle(conn, run.thread_id, settlement)
            if delete_thread:
                await thread_rows.delete_temporary(conn, run.thread_id)
            return promoted, hook

        try:
            promoted: bool | None = None
            hook: dict[str, Any] | None = None
            retried = False
            if not (rollback or hooked or delete_thread):
                try:
                    promoted = await self._alone(run, ended, state, settlement)
                except asyncpg.LockNotAvailableError:
                    pass  # a lock is held: the transaction waits for it
                except Exception as exc:
                    if not transient(exc):
                        raise
                    retried = True  # it may have committed: the transaction finds out
            if promoted is None:
                promoted, hook = await self._transact(run, transaction, backoff, retried)
        except LeaseLost:
            run.lease_lost = True
            log.warning("run %s: lease lost before finishing; leaving it", run.run_id)
            return
        except ProgressLost as exc:
            log.warning(
                "run %s: %s (the database lost commits: failover or crash); handing it back "
                "to resume from the checkpoint that survived",
                run.run_id,
                exc,
            )
            await self._transact(run, self._requeue_lost(run), backoff)
            return
        finally:
            self.hub.finishing.discard(run.run_id)
        self.hub.signal_done(run.run_id, {} if rollback else output)
        metrics.run_finished(status, run.strategy, time.monotonic() - run.claimed_at)
        tracing.run_ended(status)
        if promoted:
            self.hub.signal_ready()
        if hook is not None:
            self.webhooks.wake()

    async def hand_back(self, run: ClaimedRun) -> None:
        """Shutdown: give the run back as pending, not counted as an attempt (if this
        attempt still holds it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if await run_rows.hand_back(conn, run.run_id, run.epoch, run.token):
                await notify(conn, RUN_READY)

    async def _read(
        self, run: ClaimedRun, what: str, op: Callable[[], Awaitable[T]], backoff: Backoff
    ) -> T:
        """A small read of the finish, retried through a transient fault (sharing
        ``backoff``'s budget)."""
        return await retrying(
            op, self.db_retry_seconds, f"run {run.run_id}: {what}", backoff=backoff
        )

    async def _action(self, run: ClaimedRun) -> str | None:
        async with self.pool.acquire() as conn:
            return await outcome_rows.cancel_action(conn, run.run_id)

    async def _state(self, graph: Any, thread_id: uuid.UUID) -> tuple[Any, dict[str, Any], bool]:
        """(values, interrupts by task id, has next) at the thread's latest checkpoint."""
        if graph is None:
            return None, {}, False
        snapshot = await graph.aget_state(
            {"configurable": {"thread_id": str(thread_id), "checkpoint_ns": ""}}
        )
        interrupts = wire.interrupts_by_task(snapshot)
        return plain(snapshot.values), plain(interrupts), bool(snapshot.next)

    async def _transact(
        self,
        run: ClaimedRun,
        body: Callable[[Any, bool], Awaitable[T]],
        backoff: Backoff,
        retried: bool = False,
    ) -> T:
        """``body(conn, retried)`` in a transaction, the whole transaction tried again
        through a transient fault (it did nothing then, or it committed and only the
        acknowledgement was lost: ``retried`` tells the body to check the row for that;
        ``retried`` True from the start: an earlier attempt may have committed)."""
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await body(conn, retried)
            except Exception as exc:
                if not transient(exc):
                    raise
                retried = True
                if not await backoff.wait():
                    log.error(
                        "run %s: shutting down after trying to write its outcome for "
                        "%.1f s; it is re-claimed once its lease expires",
                        run.run_id,
                        backoff.elapsed,
                    )
                    raise
                log.warning(
                    "run %s: finishing failed (retry %d): %r", run.run_id, backoff.tries, exc
                )

    async def _alone(
        self,
        run: ClaimedRun,
        ended: outcome_rows.Outcome,
        state: Batch | None,
        settlement: outcome_rows.Settlement,
    ) -> bool | None:
        """The finish as one statement (``outcome.finish_alone``): whether it promoted a
        run, or None if the run was not alone on its thread (nothing written). Raises
        LeaseLost or ProgressLost as the transaction would."""
        async with self.pool.acquire() as conn:
            done = await outcome_rows.finish_alone(conn, ended, settlement, state)
        if not done.alone:
            return None
        if not done.held:
            raise LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch}")
        if not done.finished:
            raise ProgressLost(f"checkpoint {ended.checkpoint_id} of run {run.run_id} is gone")
        return done.promoted

    async def _rollback(
        self, conn: Any, run: ClaimedRun, interrupts: Any, thread_exists: bool
    ) -> bool:
        """A run cancelled with ``rollback``: delete it and its checkpoints, promote the next
        queued run, and put the thread back as it was; True if a run was promoted."""
        await run_rows.delete(conn, run.thread_id, [run.run_id])
        promoted = await outcome_rows.release(
            conn,
            run.thread_id,
            status=thread_status.after_run(failed=False, waiting=bool(interrupts)),
            ready_payload=self.hub.ready_payload(),
        )
        if thread_exists:
            await event_rows.append(conn, run.thread_id, None, [event_rows.run_done(run.run_id)])
        await notify(conn, RUN_DONE, str(run.run_id))
        return promoted

    async def _webhook_payload(
        self, conn: Any, run: ClaimedRun, values: Any, error: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The run as the API shows it, with its times, final values and error."""
        row = await run_rows.with_times(conn, run.run_id)
        assert row is not None  # locked and held by this transaction
        payload: dict[str, Any] = msgspec.to_builtins(wire.run(row))
        started, ended = row["started_at"], row["ended_at"]
        payload.update(
            {
                "run_started_at": started.isoformat() if started else None,
                "run_ended_at": ended.isoformat() if ended else None,
                "webhook_sent_at": None,  # set by the sender, each attempt
                "values": values,
            }
        )
        if error is not None:
            payload["error"] = error["message"]
        return payload

    def _requeue_lost(self, run: ClaimedRun) -> Callable[[Any, bool], Awaitable[None]]:
        async def body(conn: Any, _retried: bool) -> None:
            if await run_rows.hand_back(conn, run.run_id, run.epoch, run.token, counted=True):
                await notify(conn, RUN_READY)

        return body
