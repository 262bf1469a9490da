"""Running one claimed run's graph: its config, its input (or command, or resume), its
stream, its time limit; then handing the outcome to the finish (``app.worker.finish``).

The graph runs on our checkpointer, fenced by the attempt's lease (DESIGN I4): every
checkpoint and stream event goes through the attempt's ``RunWriter``. A later attempt
(``attempt > 1``) resumes from the run's last committed checkpoint, so a node that
committed is not run again; ``max_attempts`` claims end the run ``error``
(``AttemptsExhausted``), ``run_timeout_seconds`` ends it ``timeout``, a cancel
``interrupted``.

Database faults (``app.db.retry``): the writer retries its batches, the small reads are
retried, and a transient fault raised out of the graph makes the attempt resume from its
last committed checkpoint within its claim; the run ends ``error``
(``DatabaseUnavailable``) only once the database stayed away for ``db_retry_seconds``. A
lost lease (``LeaseLost``) abandons the attempt: nothing more is written for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from app.checkpoint.saver import PostgresSaver
from app.checkpoint.sql import LeaseLost
from app.core import jsonable
from app.core.runs import started
from app.db import outcome as outcome_rows
from app.db import runs as run_rows
from app.db.notify import Hub
from app.db.retry import Backoff, from_database, retrying, transient
from app.db.run_batch import Batch
from app.graphs.registry import GraphRegistry
from app.observability import tracing
from app.worker import arguments
from app.worker.chunks import StreamMapper
from app.worker.claimed import ClaimedRun
from app.worker.finish import Finisher
from app.worker.webhooks import WebhookSender
from app.worker.writer import RunWriter

log = logging.getLogger("turnstile.worker")

FIRST_LINGER = 0.005
"""The run's ``metadata`` event waits this long (at most) for the graph's first checkpoint
or event, to share its statement."""


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


class RunTimeout(Exception):
    """The run outlived ``run_timeout_seconds``."""


class Executor:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        registry: GraphRegistry,
        saver: PostgresSaver,
        hub: Hub,
        *,
        store: Any = None,
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
        self.webhooks = webhooks or WebhookSender(pool)
        """Sends the deliveries this executor's finishes queue (started by the pool)."""
        self.finisher = Finisher(pool, hub, self.webhooks, db_retry_seconds=db_retry_seconds)
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
            await self.finisher.hand_back(run)
            return
        config, graph_id = arguments.config(run)
        nodes = tracing.node_callbacks()  # traces on: a span per node, under the run's
        if nodes:
            config["callbacks"] = [*(config.get("callbacks") or []), *nodes]
        mapper = StreamMapper(
            run.kwargs.get("stream_mode") or ["values"], subgraphs=bool(run.kwargs.get("subgraphs"))
        )
        synchronous = (run.kwargs.get("durability") or "async") == "sync"
        writer = self._writer(run, synchronous)
        writer.add("metadata", started(run.run_id, run.attempt), linger=FIRST_LINGER)
        error: dict[str, Any] | None = None
        status: str | None = None
        graph: Any = None
        timeout = self.run_timeout_seconds or None
        until = None if timeout is None else asyncio.get_running_loop().time() + timeout
        fault: Exception | None = None  # the database fault the graph last stopped on
        saver: PostgresSaver | None = None  # this attempt's, once the graph is built
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
                saver = self.saver.buffered(writer, run.take_start())
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
                resume = (run.attempt > 1 or tries > 0) and await self._left_checkpoint(run)
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
                    await self.finisher.hand_back(run)
                    raise
                status = "interrupted"
            except LeaseLost as exc:
                # Another worker owns the run now: write nothing more for it.
                run.finishing = run.lease_lost = True
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
        state: Batch | None = None
        try:
            if saver is not None and saver.holds_latest:
                # What is left, checkpoints too, is written by the finish, in its
                # transaction; the final state is read from the saver's memory.
                state = await writer.hand_over()
                events = state.events
            else:  # the final state is read from the table: checkpoints first
                events = await writer.close()
        except LeaseLost as exc:
            run.lease_lost = True
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
        await self.finisher.finish(
            run,
            graph,
            status=status or "success",
            error=error,
            events=events,
            checkpoint=writer.last_checkpoint,
            state=state,
        )

    def _writer(self, run: ClaimedRun, synchronous: bool) -> RunWriter:
        return RunWriter(
            self.pool if synchronous or self.relaxed is None else self.relaxed,
            run.run_id,
            run.thread_id,
            run.epoch,
            run.token,
            synchronous=synchronous,
            retry_seconds=self.db_retry_seconds,
            when_watched=run.events_when_watched,
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

    async def _left_checkpoint(self, run: ClaimedRun) -> bool:
        """Whether an earlier attempt (or this one, before a fault) left a checkpoint to
        resume from; retried through a transient fault."""

        async def read() -> bool:
            async with self.pool.acquire() as conn:
                return await run_rows.wrote_checkpoint(conn, run.run_id, run.thread_id)

        return await retrying(
            read, self.db_retry_seconds, f"run {run.run_id}: checking for its checkpoint"
        )

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
        graph_input, options = await arguments.graph_input(
            graph, run, config, mapper, resume=resume
        )

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
