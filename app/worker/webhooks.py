"""The webhook sender: one per worker process, sending what the outbox holds.

A run's delivery row is committed with its end (app/db/webhooks.py). The sender leases due
rows (committed before anything is sent), POSTs each outside any transaction to the address
that was checked (app/services/webhooks.py), and records the outcome:

* a 2xx: ``delivered`` (recorded once: only a row still pending changes);
* a connection error, a timeout, a 5xx or 429: due again after an exponential backoff with
  jitter, ``failed`` once ``max_attempts`` attempts were made;
* any other 4xx, or an address that is not allowed: ``failed`` at once.

It is woken right after a run's finish commits in this process; otherwise it polls every
few seconds, and sleeps until the next retry is due. A row left leased by a process that
died is sent by any sender once its lease runs out, so deliveries survive restarts: they
are at least once (a receiver may see a POST twice if a sender dies after the POST and
before recording it; ``run_id`` identifies the delivery).

The loop survives any exception: it logs it, backs off with jitter and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from typing import Any

import asyncpg
import httpx

from app.core import jsonable
from app.core.errors import InvalidInput
from app.db import webhooks as delivery_rows
from app.observability import context, metrics
from app.services import webhooks

log = logging.getLogger("turnstile.webhooks")

POLL_SECONDS = 5.0
"""The fallback poll: deliveries of runs that ended in processes without a sender, or
whose wake-up was missed."""
BATCH = 16
"""POSTs in flight at once per process."""
MAX_BACKOFF_SECONDS = 600.0
STOP_GRACE_SECONDS = 2.0
"""On stop, POSTs under way get this long to end before they are cancelled."""
KEEP_DAYS = 7
"""Delivered and failed rows are deleted this many days after they were last tried."""
PURGE_EVERY_SECONDS = 600.0
LOOP_BACKOFF_SECONDS = (0.5, 30.0)
"""The loop's own back-off after an error (a database outage, say): from, to."""


def backoff(attempt: int, base: float, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """The delay after failed attempt ``attempt`` (from 1): ``base * 2**(attempt-1)``,
    capped, with jitter (half of it random), so receivers that come back are not hit by
    every sender at once."""
    delay = min(cap, base * 2.0 ** max(attempt - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


class WebhookSender:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        *,
        policy: webhooks.WebhookPolicy | None = None,
        max_attempts: int = 10,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = webhooks.TIMEOUT_SECONDS,
        resolver: webhooks.Resolver = webhooks.system_resolver,
    ) -> None:
        self.pool = pool
        self.policy = policy or webhooks.WebhookPolicy()
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.lease_seconds = 2 * timeout_seconds + 5
        """A leased row is taken by another sender after this long (its sender died):
        longer than resolving plus one POST can take."""
        self.resolver = resolver
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._purge_at = 0.0
        self._http: httpx.AsyncClient | None = None
        self.errors = 0
        """Rounds that failed (the database unreachable, say), since start."""

    def wake(self) -> None:
        """A delivery was just committed: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._http = webhooks.client()
            self._task = asyncio.create_task(self._run(self._http), name="turnstile-webhooks")

    async def stop(self) -> None:
        """Stop sending. POSTs under way get ``STOP_GRACE_SECONDS`` to end, then are
        cancelled: their rows stay leased and are sent again by a sender (this one after a
        restart, or another) when the lease ends."""
        if self._task is not None:
            self._task.cancel()
        if self._sending:  # let POSTs under way end (each one cancelled may be sent twice)
            await asyncio.wait(set(self._sending), timeout=STOP_GRACE_SECONDS)
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self, http: httpx.AsyncClient) -> None:
        failures = 0
        while True:
            try:
                wait = await self._round(http)
                failures = 0
            except Exception:
                failures += 1
                self.errors += 1
                low, high = LOOP_BACKOFF_SECONDS
                wait = min(high, low * 2 ** min(failures - 1, 10))
                wait = wait / 2 + random.uniform(0, wait / 2)
                log.exception("webhook sender failed (%d in a row); again in %.1fs", failures, wait)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _round(self, http: httpx.AsyncClient) -> float:
        """Lease what is due and start sending it; the seconds to wait before the next
        round (0: more may be due now)."""
        self._wake.clear()
        if time.monotonic() >= self._purge_at:
            async with self.pool.acquire() as conn:
                await delivery_rows.purge_done(conn, KEEP_DAYS)
            self._purge_at = time.monotonic() + PURGE_EVERY_SECONDS
        free = BATCH - len(self._sending)
        if free <= 0:
            return POLL_SECONDS  # a finishing POST wakes us
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                rows = await delivery_rows.lease_due(conn, free, self.lease_seconds)
            for row in rows:
                task = asyncio.create_task(self._send(http, row))
                self._sending.add(task)
                task.add_done_callback(self._sent)
            if len(rows) == free:
                return 0.0
            due = await delivery_rows.next_due_in(conn)
        return POLL_SECONDS if due is None else min(POLL_SECONDS, due + 0.01)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()  # a slot is free, and a retry may be due sooner than the poll

    async def _send(self, http: httpx.AsyncClient, row: asyncpg.Record) -> None:
        with context.bound(run_id=str(row["run_id"])):  # its log lines name the run
            await self._post(http, row)

    async def _post(self, http: httpx.AsyncClient, row: asyncpg.Record) -> None:
        delivery_id, attempt, url = row["delivery_id"], row["attempts"], row["url"]
        payload = dict(row["payload"])
        payload["webhook_sent_at"] = datetime.datetime.now(datetime.UTC).isoformat()
        retry: bool
        try:
            # Resolving and posting end well within the lease: no other sender takes the
            # row while this one may still record its outcome.
            async with asyncio.timeout(2 * self.timeout_seconds):
                target = await webhooks.resolve_checked(url, self.policy, resolver=self.resolver)
                res = await webhooks.post(
                    http,
                    target,
                    jsonable.dumps(payload),
                    seconds=self.timeout_seconds,
                    headers=self.policy.headers,
                )
        except TimeoutError:
            retry, error = True, f"no answer within {2 * self.timeout_seconds:g}s"
        except webhooks.Unresolvable as exc:
            retry, error = True, str(exc)
        except InvalidInput as exc:  # the host now resolves to a blocked address
            retry, error = False, str(exc)
        except httpx.HTTPError as exc:
            retry, error = True, f"{type(exc).__name__}: {exc}"[:500]
        else:
            if res.is_success:
                metrics.webhook("delivered")
                await self._record(delivery_rows.mark_delivered, delivery_id)
                return
            retry = res.status_code >= 500 or res.status_code == 429
            error = f"HTTP {res.status_code}"
        metrics.webhook("retry" if retry and attempt < self.max_attempts else "failed")
        if retry and attempt < self.max_attempts:
            delay = backoff(attempt, self.backoff_seconds)
            log.info("webhook %s (run %s): %s; retry in %.1fs", url, row["run_id"], error, delay)
            await self._record(delivery_rows.retry_later, delivery_id, attempt, delay, error)
        else:
            log.warning("webhook %s (run %s) failed: %s", url, row["run_id"], error)
            await self._record(delivery_rows.mark_failed, delivery_id, attempt, error)

    async def _record(self, statement: Any, *args: Any) -> None:
        """Write an outcome. If the database is unreachable the row stays leased and is
        sent again when the lease ends (at least once)."""
        try:
            async with self.pool.acquire() as conn:
                await statement(conn, *args)
        except Exception:
            log.exception("webhook outcome not recorded (delivery %s); it will be resent", args[0])
