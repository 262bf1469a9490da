"""Running one claimed run: the graph on our checkpointer, then one finishing transaction.

The finishing transaction locks the thread row, writes the run's terminal status (fenced by
its lease epoch and token, DESIGN I4), refreshes the thread's status and values, promotes
the next queued run and NOTIFYs, so a joiner never sees a finished run on a busy-looking
thread.

Database faults (``app.db.retry``): the writer retries its batches, the small reads and the
finishing transaction are retried, and a transient fault raised out of the graph makes the
attempt resume from its last committed checkpoint within its claim; the run ends ``error``
(``DatabaseUnavailable``) only once the database stayed away for ``db_retry_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgspec
from langgraph.types import Command, Send

from app.auth.user import AuthUser
from app.checkpoint import sql as checkpoint_sql
from app.checkpoint.saver import PostgresSaver
from app.checkpoint.sql import LeaseLost
from app.core import jsonable, wire
from app.core.jsonable import plain
from app.db import events as event_rows
from app.db import outcome as outcome_rows
from app.db import runs as run_rows
from app.db import threads as thread_rows
from app.db import webhooks as delivery_rows
from app.db.notify import RUN_DONE, RUN_READY, Hub, notify
from app.db.retry import Backoff, from_database, retrying, transient
from app.graphs.registry import GraphRegistry
from app.worker.chunks import StreamMapper
from app.worker.webhooks import WebhookSender
from app.worker.writer import RunWriter

log = logging.getLogger("turnstile.worker")

T = TypeVar("T")

FIRST_LINGER = 0.005
"""The run's ``metadata`` event waits this long (at most) for the graph's first checkpoint
or event, to share its statement."""


@dataclass
class ClaimedRun:
    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    kwargs: dict[str, Any]
    metadata: dict[str, Any]
    attempt: int
    epoch: int
    token: uuid.UUID
    """The claim's random lease token: with the epoch it fences every write (DESIGN I4)."""
    temporary: bool
    cancel_action: str | None = None
    """Set when a cancel arrives; the task is then cancelled (if it may be)."""
    shutdown: bool = False
    cancel_requested: bool = False
    started: bool = False
    """The task has begun ``execute``: before that, a cancel is a flag it reads at start."""
    finishing: bool = False
    """The graph is done and the outcome is being written: no more cancelling."""
    lease_lost: bool = False
    """The lease keeper found the run no longer held by this attempt: it stops."""

    @property
    def cancellable(self) -> bool:
        """Whether cancelling the task now stops the graph (and nothing else)."""
        return self.started and not self.finishing

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ClaimedRun:
        return cls(
            run_id=row["run_id"],
            thread_id=row["thread_id"],
            assistant_id=row["assistant_id"],
            kwargs=row["kwargs"],
            metadata=row["metadata"],
            attempt=row["attempt"],
            epoch=row["lease_epoch"],
            token=row["lease_token"],
            temporary=row["temporary"],
            cancel_action=row["cancel_action"],
        )


class ProgressLost(Exception):
    """The attempt's latest checkpoint is gone from the database: PostgreSQL lost commits
    the attempt had seen succeed (a failover, a crash with ``synchronous_commit = off``)."""


class AttemptsExhausted(Exception):
    """The run was claimed more often than ``max_attempts``: its workers keep dying."""


class DatabaseUnavailable(Exception):
    """The database stayed unreachable (or kept failing transiently) for longer than
    ``db_retry_seconds``: the attempt gave up."""


def _database_fault(exc: BaseException) -> bool:
    """Whether the graph stopped on a transient fault of the database (the attempt then
    resumes), rather than on an error of the run itself."""
    if isinstance(exc, DatabaseUnavailable | RunTimeout | AttemptsExhausted):
        return False
    return from_database(exc)


class UnknownInterruptError(Exception):
    """``strict_resume``: the resume names no interrupt the thread is waiting on."""


async def _check_resumable(graph: Any, config: dict[str, Any], resume: Any) -> None:
    snapshot = await graph.aget_state(
        {"configurable": {"thread_id": config["configurable"]["thread_id"]}}
    )
    waiting = {i.id for task in snapshot.tasks for i in task.interrupts}
    if not waiting:
        raise UnknownInterruptError("The thread is not waiting on any interrupt to resume.")
    if isinstance(resume, dict) and resume and not set(resume) & waiting:
        unknown = ", ".join(sorted(map(str, resume)))
        raise UnknownInterruptError(f"No pending interrupt with id {unknown}.")


class RunTimeout(Exception):
    """The run outlived ``run_timeout_seconds``."""


def _command(raw: dict[str, Any]) -> Command[Any]:
    goto = raw.get("goto")
    if isinstance(goto, dict):
        goto = Send(goto["node"], goto.get("input"))
    elif isinstance(goto, list):
        goto = [Send(g["node"], g.get("input")) if isinstance(g, dict) else g for g in goto]
    kwargs: dict[str, Any] = {}
    if "resume" in raw:
        kwargs["resume"] = raw["resume"]
    if raw.get("update") is not None:
        update = raw["update"]
        kwargs["update"] = [tuple(u) for u in update] if isinstance(update, list) else update
    if goto is not None:
        kwargs["goto"] = goto
    return Command(**kwargs)


def _interrupt(intr: Any) -> dict[str, Any]:
    return {"value": getattr(intr, "value", intr), "id": getattr(intr, "id", None)}


class Executor:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        registry: GraphRegistry,
        saver: PostgresSaver,
        hub: Hub,
        *,
        store: Any = None,
        webhook_allow_private: bool = False,
        max_attempts: int = 3,
        run_timeout_seconds: float = 0.0,
        webhooks: WebhookSender | None = None,
        db_retry_seconds: float = 60.0,
    ) -> None:
        self.pool = pool
        self.relaxed: asyncpg.Pool[Any] | None = None
        """Set by the worker pool: where batches of ``durability != "sync"`` runs go."""
        self.registry = registry
        self.saver = saver
        self.hub = hub
        self.store = store
        self.webhook_allow_private = webhook_allow_private
        self.webhooks = webhooks or WebhookSender(pool, allow_private=webhook_allow_private)
        """Sends the deliveries this executor's finishes queue (started by the pool)."""
        self.max_attempts = max_attempts
        self.run_timeout_seconds = run_timeout_seconds
        self.db_retry_seconds = db_retry_seconds

    async def execute(self, run: ClaimedRun) -> None:
        """Run the graph to the end (or until cancelled), streaming its events to the log,
        and record the outcome.

        A transient database fault raised out of the graph (a checkpoint read, say) does
        not end the run: the attempt writes what the graph handed over, waits for the
        database, checks that it still holds the run's lease, and resumes the graph from
        the run's last committed checkpoint, within this claim and its event stream (no
        ``error`` event, no second ``metadata`` event). Only once the database stayed
        away for ``db_retry_seconds`` does the run end ``error`` (``DatabaseUnavailable``);
        an attempt that finds its lease gone meanwhile is abandoned, as on ``LeaseLost``."""
        run.started = True
        if run.lease_lost:  # lost before this task ran: nothing to do
            return
        if run.shutdown:  # the pool stopped before this task ran: give the run back
            run.finishing = True
            await self._hand_back(run)
            return
        config, graph_id = self._config(run)
        mapper = StreamMapper(
            run.kwargs.get("stream_mode") or ["values"], subgraphs=bool(run.kwargs.get("subgraphs"))
        )
        synchronous = (run.kwargs.get("durability") or "async") == "sync"
        writer = self._writer(run, synchronous)
        writer.add(
            "metadata", {"run_id": str(run.run_id), "attempt": run.attempt}, linger=FIRST_LINGER
        )
        error: dict[str, Any] | None = None
        status: str | None = None
        graph: Any = None
        timeout = self.run_timeout_seconds or None
        until = None if timeout is None else asyncio.get_running_loop().time() + timeout
        fault: Exception | None = None  # the database fault the graph last stopped on
        backoff: Backoff | None = None
        tries = 0
        while True:
            try:
                if fault is not None:
                    if backoff is None or writer.progressed:  # a new fault, not the same one
                        backoff = Backoff(self.db_retry_seconds)
                    writer = await self._resume(run, writer, fault, backoff, synchronous)
                    fault = None
                if run.cancel_action:
                    raise asyncio.CancelledError
                # Every checkpoint write of this attempt goes through the writer, in
                # statements fenced by its lease (DESIGN I4), batched with its events.
                saver = self.saver.fenced(str(run.run_id), run.epoch, run.token).buffered(writer)
                graph = await self.registry.get(
                    str(graph_id),
                    config=config,  # type: ignore[arg-type]
                    checkpointer=saver,
                    store=self.store,
                )
                if run.attempt > self.max_attempts:
                    raise AttemptsExhausted(
                        f"The run was started {run.attempt - 1} times and its worker stopped "
                        f"each time (max_attempts={self.max_attempts})."
                    )
                # A later attempt, or this one after a fault, goes on from the last
                # committed checkpoint (if any), so a node that committed is not re-run.
                resume = (run.attempt > 1 or tries > 0) and await self._read(
                    run, "checking for its checkpoint", lambda: self._left_checkpoint(run)
                )
                tries += 1
                deadline = asyncio.timeout_at(until)
                try:
                    async with deadline:
                        await self._stream(graph, run, config, mapper, writer, resume=resume)
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    raise RunTimeout(
                        f"The run took longer than {self.run_timeout_seconds:g} s."
                    ) from None
            except asyncio.CancelledError:
                run.finishing = True
                if run.lease_lost:  # the lease keeper's renewal was refused (pool._lost)
                    lost = LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch}")
                    log.warning("run %s: %s; abandoning this attempt", run.run_id, lost)
                    writer.abandon()
                    return
                if run.shutdown:
                    with contextlib.suppress(Exception):
                        await writer.close()  # keep the progress made: it resumes from there
                    await self._hand_back(run)
                    raise
                status = "interrupted"
            except LeaseLost as exc:
                # Another worker owns the run now: write nothing more for it.
                run.finishing = True
                log.warning("run %s: %s; abandoning this attempt", run.run_id, exc)
                writer.abandon()
                return
            except Exception as exc:
                if writer.failed is None and _database_fault(exc):
                    fault = exc
                    continue
                if writer.failed is not None and transient(writer.failed):
                    exc = self._unavailable(writer.failed)
                log.info("run %s failed: %r", run.run_id, exc)
                status = "timeout" if isinstance(exc, RunTimeout) else "error"
                error = {"error": type(exc).__name__, "message": str(exc)}
                writer.add("error", error)
            except BaseException:
                run.finishing = True
                writer.abandon()
                raise
            break
        run.finishing = True  # from here on the outcome is written, whatever else arrives
        try:
            events = await writer.close()  # checkpoints first: the outcome reads them
        except LeaseLost as exc:
            log.warning("run %s: %s; abandoning this attempt", run.run_id, exc)
            return
        except Exception as exc:
            # Writing kept failing: what was not written is lost, and a run whose last
            # checkpoints are missing did not succeed.
            events = writer.drop()
            if status is None:
                unavailable = self._unavailable(exc)
                status = "error"
                error = {"error": type(unavailable).__name__, "message": str(unavailable)}
                events.append(("error", jsonable.dumps_str(error)))
        await self._finish(
            run,
            graph,
            status=status or "success",
            error=error,
            events=events,
            checkpoint=writer.last_checkpoint,
        )

    def _config(self, run: ClaimedRun) -> tuple[dict[str, Any], Any]:
        """The graph's config for this run, and its graph id."""
        config: dict[str, Any] = dict(run.kwargs.get("config") or {})
        configurable = dict(config.get("configurable") or {})
        graph_id = configurable.get("graph_id")
        if isinstance(configurable.get("langgraph_auth_user"), dict):
            configurable["langgraph_auth_user"] = AuthUser(configurable["langgraph_auth_user"])
        config["configurable"] = configurable
        config["metadata"] = {
            **(config.get("metadata") or {}),
            **run.metadata,
            "run_id": str(run.run_id),
            "thread_id": str(run.thread_id),
            "graph_id": graph_id,
            "assistant_id": str(run.assistant_id),
            "run_attempt": run.attempt,
        }
        config["run_id"] = run.run_id  # the root callback run: LangSmith and astream_events
        return config, graph_id

    def _writer(self, run: ClaimedRun, synchronous: bool) -> RunWriter:
        return RunWriter(
            self.pool if synchronous or self.relaxed is None else self.relaxed,
            run.run_id,
            run.thread_id,
            run.epoch,
            run.token,
            synchronous=synchronous,
            retry_seconds=self.db_retry_seconds,
        )

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"The database stayed unavailable for more than {self.db_retry_seconds:g} s "
            f"(TURNSTILE_DB_RETRY_SECONDS), so the run gave up; last error: {exc!r}"
        )

    async def _resume(
        self,
        run: ClaimedRun,
        writer: RunWriter,
        fault: Exception,
        backoff: Backoff,
        synchronous: bool,
    ) -> RunWriter:
        """After ``fault`` stopped the graph: write what it handed over, wait for the
        database, and return a fresh writer (carrying the events not written yet) if the
        attempt still holds its lease. Raises ``LeaseLost`` if it does not, and
        ``DatabaseUnavailable`` once ``backoff``'s budget is spent."""
        log.warning(
            "run %s: the database failed under the graph (%r); resuming from its last "
            "committed checkpoint once it is back",
            run.run_id,
            fault,
        )
        try:
            events = await writer.close()  # retries through the outage by itself
        except LeaseLost:
            raise
        except Exception as exc:
            raise self._unavailable(exc) from exc
        while True:
            if not await backoff.wait():
                raise self._unavailable(fault) from fault
            try:
                async with self.pool.acquire() as conn:
                    held = await outcome_rows.holds(conn, run.run_id, run.epoch, run.token)
                break
            except Exception as exc:
                if not transient(exc):
                    raise
                fault = exc
        if not held:
            raise LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch} during a fault")
        log.info("run %s: the database is back; resuming (retry %d)", run.run_id, backoff.tries)
        fresh = self._writer(run, synchronous)
        fresh.carry(events)
        fresh.last_checkpoint = writer.last_checkpoint
        return fresh

    async def _read(
        self,
        run: ClaimedRun,
        what: str,
        op: Callable[[], Awaitable[T]],
        backoff: Backoff | None = None,
    ) -> T:
        """A small read of the attempt, retried through a transient fault (sharing
        ``backoff``'s budget, if given)."""
        return await retrying(
            op, self.db_retry_seconds, f"run {run.run_id}: {what}", backoff=backoff
        )

    async def _left_checkpoint(self, run: ClaimedRun) -> bool:
        async with self.pool.acquire() as conn:
            return await run_rows.wrote_checkpoint(conn, run.run_id, run.thread_id)

    async def _stream(
        self,
        graph: Any,
        run: ClaimedRun,
        config: dict[str, Any],
        mapper: StreamMapper,
        writer: RunWriter,
        *,
        resume: bool = False,
    ) -> None:
        kwargs = run.kwargs
        if resume:
            # An earlier attempt died: continue from the run's last checkpoint, so the
            # nodes (and tasks) it completed are not run again.
            graph_input: Any = None
            configurable = config["configurable"]
            for key in ("checkpoint_id", "checkpoint_map"):
                configurable.pop(key, None)
        elif kwargs.get("command"):
            graph_input = _command(kwargs["command"])
            if kwargs.get("strict_resume") and "resume" in kwargs["command"]:
                await _check_resumable(graph, config, kwargs["command"]["resume"])
        else:
            graph_input = kwargs.get("input")
        options: dict[str, Any] = {
            "stream_mode": mapper.graph_modes(),
            "subgraphs": mapper.subgraphs,
            "durability": kwargs.get("durability") or "async",
        }
        for key in ("interrupt_before", "interrupt_after", "context"):
            if kwargs.get(key):
                options[key] = kwargs[key]

        def emit(item: Any) -> None:
            if writer.lease_lost:
                raise LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch}")
            if mapper.subgraphs:
                namespace, mode, chunk = item
            else:
                (mode, chunk), namespace = item, ()
            for name, data in mapper.map(tuple(namespace), mode, chunk):
                writer.add(name, data)

        if not mapper.events_requested:
            async for item in graph.astream(graph_input, config, **options):
                emit(item)
            return
        root = str(run.run_id)
        async for event in graph.astream_events(graph_input, config, version="v2", **options):
            if event["event"] == "on_chain_stream" and event["run_id"] == root:
                emit(event["data"]["chunk"])
            elif "langsmith:hidden" not in (event.get("tags") or ()):
                writer.add("events", event)

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
        interrupts = {
            task.id: [_interrupt(i) for i in task.interrupts]
            for task in snapshot.tasks
            if task.interrupts
        }
        return plain(snapshot.values), plain(interrupts), bool(snapshot.next)

    async def _finish(
        self,
        run: ClaimedRun,
        graph: Any,
        *,
        status: str,
        error: dict[str, Any] | None,
        events: list[tuple[str, str]],
        checkpoint: str | None = None,
    ) -> None:
        """Write the outcome. ``checkpoint``: the attempt's latest root checkpoint; if the
        database no longer has it, the outcome read from the thread's state would not be
        this run's, so the run is handed back instead (counted as an attempt) and re-runs
        from the checkpoint that survived."""
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
        # The finish's NOTIFY may reach this process's hub before the commit returns
        # here; the hub leaves the signal to us then, with the output in hand.
        self.hub.finishing.add(run.run_id)

        async def transaction(conn: Any, retried: bool) -> tuple[bool, dict[str, Any] | None]:
            """(promoted, webhook payload); raises LeaseLost (nothing written) if the run
            is no longer ours, and returns at once if a try before this one committed."""
            hook: dict[str, Any] | None = None
            locked = await outcome_rows.lock(conn, run.thread_id, run.run_id, run.epoch, run.token)
            if not locked["held"]:
                if retried and await outcome_rows.finished_under(
                    conn, run.run_id, run.epoch, run.token
                ):
                    # An earlier try committed; only its acknowledgement was lost.
                    log.info("run %s: its finish had committed", run.run_id)
                    return True, None  # perhaps promoted: a spare wake-up is harmless
                raise LeaseLost(f"run {run.run_id} lost lease epoch {run.epoch}")
            if rollback:
                promoted = await self._finish_rollback(
                    conn,
                    run,
                    locked["interrupts"],
                    locked["thread_exists"] and not delete_thread,
                )
            else:
                # The last events commit with the status: a reader that sees the run ended
                # has every event of it (DESIGN I3).
                done = [] if delete_thread else [event_rows.run_done(run.run_id)]
                finished = await outcome_rows.write(
                    conn,
                    run_id=run.run_id,
                    thread_id=run.thread_id,
                    epoch=run.epoch,
                    token=run.token,
                    status=status,
                    output=output,
                    error=error,
                    events=events,
                    thread_events=done if locked["thread_exists"] else [],
                    checkpoint_id=checkpoint if locked["thread_exists"] else None,
                )
                if not finished:  # the run row is locked and held: its checkpoint is gone
                    raise ProgressLost(f"checkpoint {checkpoint} of run {run.run_id} is gone")
                if run.kwargs.get("webhook"):  # the outbox row commits with the end
                    hook = await self._webhook_payload(conn, run, values, error)
                    await delivery_rows.insert(conn, run.run_id, run.kwargs["webhook"], hook)
                if error is not None:
                    thread_status = "error"
                elif has_next:
                    thread_status = "interrupted"
                else:
                    thread_status = "idle"
                promoted = await outcome_rows.settle(
                    conn,
                    run.thread_id,
                    status=thread_status,
                    values=values,
                    interrupts=interrupts,
                    error=error,
                    ready_payload=self.hub.ready_payload(),
                )
            if delete_thread:
                await conn.execute("DELETE FROM threads WHERE thread_id = $1", run.thread_id)
                await checkpoint_sql.delete_threads(conn, [str(run.thread_id)])
            return promoted, hook

        try:
            promoted, hook = await self._transact(run, transaction, backoff)
        except LeaseLost:
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
        if promoted:
            self.hub.signal_ready()
        if hook is not None:
            self.webhooks.wake()

    async def _transact(
        self,
        run: ClaimedRun,
        body: Callable[[Any, bool], Awaitable[T]],
        backoff: Backoff,
    ) -> T:
        """``body(conn, retried)`` in a transaction, the whole transaction tried again
        through a transient fault (it did nothing then, or it committed and only the
        acknowledgement was lost: ``retried`` tells the body to check the row for that)."""
        retried = False
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

    async def _finish_rollback(
        self, conn: Any, run: ClaimedRun, interrupts: Any, thread_exists: bool
    ) -> bool:
        """A run cancelled with ``rollback``: delete it and its checkpoints, promote the next
        queued run, and put the thread back as it was; True if a run was promoted."""
        await checkpoint_sql.delete_for_runs(conn, [str(run.run_id)], str(run.thread_id))
        await run_rows.delete(conn, run.run_id)
        promoted = await run_rows.promote_next(conn, run.thread_id) is not None
        if promoted:
            await notify(conn, RUN_READY, self.hub.ready_payload())
        if not thread_exists:
            await notify(conn, RUN_DONE, str(run.run_id))
            return promoted
        if not promoted and not await run_rows.has_inflight(conn, run.thread_id):
            status = "interrupted" if interrupts else "idle"
            await thread_rows.set_status(conn, run.thread_id, status)
        await event_rows.append(conn, run.thread_id, None, [event_rows.run_done(run.run_id)])
        await notify(conn, RUN_DONE, str(run.run_id))
        return promoted

    async def _webhook_payload(
        self, conn: Any, run: ClaimedRun, values: Any, error: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The run as the API shows it, with its times, final values and error."""
        row = await conn.fetchrow(
            f"SELECT {run_rows.COLUMNS}, started_at, ended_at FROM runs WHERE run_id = $1",
            run.run_id,
        )
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

    async def _hand_back(self, run: ClaimedRun) -> None:
        """Shutdown: give the run back as pending, not counted as an attempt (if this
        attempt still holds it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if await run_rows.hand_back(conn, run.run_id, run.epoch, run.token):
                await notify(conn, RUN_READY)
