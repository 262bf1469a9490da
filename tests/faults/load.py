"""A steady load of SDK clients that behave like real ones when the server has a fault.

Each client loops: make a thread (its id chosen here, ``if_exists="do_nothing"``, so a retry
is harmless), start one ``chain`` run on it and see it end, by one of three ways (client i
uses ``MODES[i % 3]``): ``runs.wait``, ``runs.stream``, or ``runs.create`` then
``runs.join``. A call that fails with a 503 or a transport error is retried as a client
would (a failed create or wait first asks ``runs.list`` whether the run exists, and then joins
it instead of creating another); every retry is counted. Anything else (another status, a
wait that answers something that is not the run's output, a stream whose last event is an
``error``) is recorded in ``problems``.
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from langgraph_sdk.client import LangGraphClient

from tests.faults.graphs.ledger import NODES

MODES = ("wait", "stream", "join")
T = TypeVar("T")


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 503
    return isinstance(exc, httpx.TransportError)


@dataclass
class Load:
    client: LangGraphClient
    clients: int = 10
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    threads: list[str] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    """Wall times at which a client saw a run end with its full output."""
    retries: collections.Counter[str] = field(default_factory=collections.Counter)
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    """(thread or None, what went wrong)."""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._client(MODES[i % len(MODES)])) for i in range(self.clients)
        ]

    async def stop(self, within: float = 90.0) -> None:
        """Let every client finish the run it is on, then stop."""
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=within)
        for task in pending:
            task.cancel()
            self.problems.append((None, "a client did not finish its run in time"))
        for task in done:
            if task.exception() is not None:
                self.problems.append((None, f"a client failed: {task.exception()!r}"))

    async def successes_after(self, t: float, n: int, within: float = 60.0) -> float:
        """Wait until ``n`` runs succeeded after wall time ``t``; the first one's time."""
        deadline = time.monotonic() + within
        while sum(1 for s in self.successes if s > t) < n:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {sum(1 for s in self.successes if s > t)} runs succeeded in "
                    f"{within}s after the fault; problems: {self.problems[:5]}"
                )
            await asyncio.sleep(0.02)
        return min(s for s in self.successes if s > t)

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        pause = 0.1
        while True:
            try:
                return await call()
            except Exception as exc:
                if not retryable(exc):
                    raise
                kind = (
                    f"{what}:{exc.response.status_code}"
                    if isinstance(exc, httpx.HTTPStatusError)
                    else f"{what}:{type(exc).__name__}"
                )
                self.retries[kind] += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _client(self, mode: str) -> None:
        while not self._stop.is_set():
            tid = str(uuid.uuid4())
            self.threads.append(tid)
            await self._retry(
                "threads.create",
                lambda tid=tid: self.client.threads.create(
                    thread_id=tid, if_exists="do_nothing", metadata={"load": self.tag}
                ),
            )
            before = len(self.problems)
            try:
                output = await getattr(self, f"_{mode}")(tid)
            except Exception as exc:
                self.problems.append((tid, f"{mode}: {exc!r}"))
                continue
            if len(self.problems) > before:
                continue  # already said what went wrong (an error event)
            if not isinstance(output, dict) or output.get("done") != list(NODES):
                self.problems.append((tid, f"{mode} answered {output!r}"))
                continue
            self.successes.append(time.time())

    async def _existing_run(self, tid: str) -> str | None:
        runs = await self._retry("runs.list", lambda: self.client.runs.list(tid))
        return runs[0]["run_id"] if runs else None

    async def _join(self, tid: str, rid: str | None = None) -> Any:
        if rid is None:
            while True:
                try:
                    run = await self.client.runs.create(tid, "chain", input={}, durability="sync")
                    rid = run["run_id"]
                    break
                except Exception as exc:
                    if not retryable(exc):
                        raise
                    self.retries["runs.create"] += 1
                    rid = await self._existing_run(tid)
                    if rid is not None:
                        break
                    await asyncio.sleep(0.2)
        run_id = rid
        return await self._retry("runs.join", lambda: self.client.runs.join(tid, run_id))

    async def _wait(self, tid: str) -> Any:
        while True:
            try:
                return await self.client.runs.wait(tid, "chain", input={}, durability="sync")
            except Exception as exc:
                if not retryable(exc):
                    raise
                self.retries["runs.wait"] += 1
                rid = await self._existing_run(tid)
                if rid is not None:
                    return await self._join(tid, rid)
                await asyncio.sleep(0.2)

    async def _stream(self, tid: str) -> Any:
        last: Any = None
        try:
            async for part in self.client.runs.stream(
                tid, "chain", input={}, stream_mode="values", durability="sync"
            ):
                if part.event == "values":
                    last = part.data
                elif part.event == "error":
                    self.problems.append((tid, f"stream: error event {part.data!r}"))
        except Exception as exc:
            if not retryable(exc):
                raise
            self.retries["runs.stream"] += 1
            rid = await self._existing_run(tid)
            return await self._join(tid, rid)
        return last
