"""Writing what a run produces while its graph runs: checkpoints and stream events.

The run's checkpoint saver (``PostgresSaver.buffered``) and its stream mapper hand rows to
one ``RunWriter``. A background task writes whatever has accumulated in one fenced
statement (``app.db.run_batch``) as soon as the previous write is done: events reach
readers within about one round trip, and a fast graph's supersteps, with their events,
share a statement and a commit instead of one each.

Durability follows the run's ``durability``: with ``sync`` a checkpoint put returns only
once it is committed (LangGraph then starts the next step); with ``async`` (the default)
it is written in the background while the next step runs, as LangGraph's own async mode
does; with ``exit`` LangGraph puts only at the end. Reads through the run's saver first
wait for everything queued, and the run's end waits for it too, so the finish never
records an outcome whose checkpoints were not written.

``close()`` writes what still holds checkpoint data and hands back the events that are
left, for the finishing transaction to write with the status; ``hand_over()``, at a run's
end, writes nothing more and hands back everything left, checkpoint data too: the finish
writes it under its lock, in its own transaction (one statement and one commit fewer per
run), and the run's saver answers the last checkpoint from memory meanwhile.

A batch that fails on a transient database fault (``app.worker.retry.transient``) is
retried, with backoff and jitter, through an outage of up to ``retry_seconds``; rewriting
it is harmless, as its rows are upserts that keep what is stored (the one exception: had a
commit succeeded and only its acknowledgement been lost, its events are stored twice).
Only then, or at once on any other error, is ``failed`` set: the attempt's next put,
flush or read raises it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg

from app.checkpoint.sql import LeaseLost
from app.core import jsonable
from app.db import run_batch
from app.db.retry import Backoff, transient
from app.db.run_batch import Batch
from app.observability import metrics

log = logging.getLogger("turnstile.worker")

BATCH_LINGER_SECONDS = 0.002
"""With ``async`` durability, how long the writer waits after being woken before taking
the batch, so that rows handed over meanwhile share its statement (a flush does not wait)."""
UNWATCHED_LINGER_SECONDS = 0.02
"""The same for a run whose events are written only while watched (a wait endpoint's): no
reader waits for them, so a fast graph's whole run goes in one statement at its end (a
longer graph's progress is written every 20 ms: within what ``async`` commits may lose)."""


class RunWriter:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        run_id: uuid.UUID,
        thread_id: uuid.UUID,
        epoch: int,
        token: uuid.UUID,
        *,
        synchronous: bool = False,
        retry_seconds: float = 60.0,
        when_watched: bool = False,
    ) -> None:
        self.pool = pool
        self.run_id = run_id
        self.thread_id = thread_id
        self.epoch = epoch
        self.token = token
        self.synchronous = synchronous
        """Checkpoint puts wait for their commit (durability="sync")."""
        self.retry_seconds = retry_seconds
        """How long a batch is retried through a transient database fault."""
        self.when_watched = when_watched
        """Events are written only while somebody reads the run or its thread live (a run
        of a wait endpoint: its waiter takes the output)."""
        self.linger = UNWATCHED_LINGER_SECONDS if when_watched else BATCH_LINGER_SECONDS
        self.lease_lost = False
        self.last_checkpoint: str | None = None
        """The id of the latest root checkpoint this attempt saw committed: the finish checks
        that it is still there (a failover or a crash may lose relaxed commits)."""
        self.failed: BaseException | None = None
        self.progressed = False
        """A batch with checkpoint data was committed by this writer."""
        self._batch = Batch()
        self._queued = 0  # rows handed over so far
        self._written = 0  # rows committed (or given up on) so far
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # a flush, close or abandon: stop lingering
        self._writing_state = False  # the batch being written holds checkpoint data
        self._closing = False
        self._handing_over = False  # closing: leave what is left to the finish
        self._closed = False
        self._urgent = False  # a flush waits: write without lingering
        self._abandoned = False
        self._dropped = False
        self._task = asyncio.create_task(self._loop(), name=f"writer-{run_id}")

    # --- what the graph side hands over -------------------------------------------------

    def add(self, event: str, data: Any, *, linger: float = 0.0) -> None:
        """A stream event (encoded now, written soon). ``linger``: write it with whatever
        comes within that many seconds rather than on its own (the run's first event, so
        it shares a statement with the first checkpoint)."""
        self._batch.events.append((event, jsonable.dumps_str(data)))
        self._queued += 1
        metrics.stream_event()
        if linger > 0:
            asyncio.get_running_loop().call_later(linger, self._wake.set)
        else:
            self._wake.set()

    def carry(self, events: list[tuple[str, str]]) -> None:
        """Events (already encoded) that an earlier writer of the same attempt did not
        write: they go first, in order."""
        if events:
            self._batch.events[:0] = events
            self._queued += 1
            self._wake.set()

    async def put_checkpoint(
        self,
        key: tuple[str, str, str],
        row: tuple[str | None, str | None, str, str],
        blobs: list[tuple[str, str, str, str, str, bytes | None]],
    ) -> None:
        self._check()
        self._batch.checkpoints[key] = row
        self._batch.blobs.extend(blobs)
        self._queued += 1
        self._wake.set()
        if self.synchronous:
            await self.flush()

    def put_writes(
        self,
        rows: list[tuple[tuple[str, str, str, str, int], tuple[str, str | None, str, str, bytes]]],
    ) -> None:
        self._check()
        for key, row in rows:
            self._batch.add_write(key, row)
        self._queued += 1
        self._wake.set()

    async def settle(self) -> None:
        """Wait until the checkpoint data handed over so far is committed (a read of the
        run's checkpoints needs no more: events wait for their batch). Raises like
        ``flush``."""
        if self._dropped:
            return
        if self._batch.has_state or self._writing_state:
            await self.flush()
        else:
            self._check()

    async def flush(self) -> None:
        """Wait until everything handed over so far is committed; LeaseLost if the lease
        was lost, or the write error if writing kept failing."""
        if self._dropped:
            return
        target = self._queued
        self._urgent = True
        self._hurry.set()
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target or self._done())
        self._check()

    async def close(self) -> list[tuple[str, str]]:
        """Write what holds checkpoint data, stop, and return the events not written yet
        (the finish writes them with the status). Raises like ``flush``."""
        if self._batch.has_state:
            await self.flush()
        return (await self._stop()).events

    async def hand_over(self) -> Batch:
        """Stop once the write in flight (if any) is done, and return everything not
        written: checkpoint data and events, for the finish to write in its transaction.
        Raises like ``flush``."""
        self._handing_over = True
        return await self._stop()

    async def _stop(self) -> Batch:
        """Stop the background writer (it leaves what it holds, see ``_loop``) and take
        what was not written."""
        self._closing = True
        self._hurry.set()
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        left, self._batch = self._batch, Batch()
        self._check()
        self._closed = not self._abandoned
        return left

    @property
    def closed(self) -> bool:
        """``close`` or ``hand_over`` returned: nothing more will be written by this writer,
        and what it did not write is the finish's (the saver may answer the run's last
        checkpoint from memory)."""
        return self._closed and not (self._dropped or self.lease_lost or self.failed)

    def drop(self) -> list[tuple[str, str]]:
        """Stop without writing anything more and return the events not written (the
        writer failed: the finish writes them with the run's outcome). Reads through the
        run's saver no longer wait for (or raise) anything of this writer."""
        self._dropped = True
        self.abandon()
        events, self._batch.events = self._batch.events, []
        return events

    def abandon(self) -> None:
        """Stop without writing anything more (the attempt is over: lease lost, shutdown)."""
        self._abandoned = self._closing = True
        self._hurry.set()
        self._wake.set()

    def _check(self) -> None:
        if self.lease_lost:
            raise LeaseLost(f"run {self.run_id} lost lease epoch {self.epoch}")
        if self.failed is not None:
            raise self.failed

    def _done(self) -> bool:
        return self.lease_lost or self.failed is not None or self._task.done()

    # --- the background writer ----------------------------------------------------------

    async def _loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                if not (self.synchronous or self._urgent or self._closing):
                    # What a fast graph hands over next (its node's writes, the checkpoint
                    # after it) joins this batch: one statement and commit, not one each.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.linger):
                            await self._hurry.wait()
                self._wake.clear()
                self._hurry.clear()
                self._urgent = False
                if self._abandoned or (
                    self._closing and (self._handing_over or not self._batch.has_state)
                ):
                    return
                if not self._batch or self.lease_lost or self.failed is not None:
                    if self._closing:
                        return
                    continue
                batch, self._batch = self._batch, Batch()
                upto = self._queued
                self._writing_state = batch.has_state
                try:
                    await self._write(batch)
                finally:
                    self._writing_state = False
                async with self._progress:
                    self._written = upto
                    self._progress.notify_all()
        finally:
            async with self._progress:
                self._progress.notify_all()

    async def _write(self, batch: Batch) -> None:
        backoff: Backoff | None = None
        while True:
            try:
                async with self.pool.acquire() as conn:
                    held = await run_batch.write(
                        conn,
                        self.run_id,
                        self.thread_id,
                        self.epoch,
                        self.token,
                        batch,
                        when_watched=self.when_watched,
                    )
            except Exception as exc:
                if self._abandoned:
                    return
                if transient(exc):
                    backoff = backoff or Backoff(self.retry_seconds)
                    if await backoff.wait():
                        log.warning(
                            "run %s: writing a batch failed (retry %d): %r",
                            self.run_id,
                            backoff.tries,
                            exc,
                        )
                        continue
                log.error("run %s: writing its checkpoints and events failed: %r", self.run_id, exc)
                self.failed = exc
                return
            if not held and not self.lease_lost:
                self.lease_lost = True
                log.warning("run %s: lease lost; nothing more is written for it", self.run_id)
            elif held and batch.has_state:
                self.progressed = True
                roots = [key[2] for key in batch.checkpoints if key[1] == ""]
                if roots:
                    self.last_checkpoint = roots[-1]
            return
