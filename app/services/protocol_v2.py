"""Protocol v2 thread streaming (API.md §2.6): our stored run events as v2 events.

A run started by ``run.start`` records the classic stream modes in ``V2_STREAM_MODES`` (with
subgraphs), so the event log (``run_events``) holds its values, updates, message chunks,
custom data and task starts/results. ``Translator`` turns that log, read in order, into the
v2 events ``client.threads.stream()`` consumes: ``lifecycle`` (``running``, ``interrupted``,
``completed``, ``failed``; ``started``/``completed`` of each subgraph), ``values``,
``updates``, ``messages`` (``message-start`` … ``message-finish``, built from the chunks by
langchain-core's protocol bridge), ``tools`` (``tool-started`` when a model's message with a
tool call is finished, ``tool-finished``/``tool-error`` on the tool's message), ``custom``,
``tasks`` and ``input.requested`` (an interrupt).

``seq`` is derived, durably, from the stored event id: the ``i``-th v2 event made from stored
event ``n`` has ``seq = n * PER_EVENT + i``. It grows with the log (one writer per thread,
so stored ids grow in commit order) but is not contiguous; the SDK only compares it (its
cursor is the highest ``seq`` seen, sent back as ``since``) and dedupes on ``event_id``.
A reader always translates the thread's retained log from its start (the translation keeps
state per run: open messages, open subgraphs, whether the run failed or was interrupted)
and sends only the events after ``since``, so any process produces the same events with
the same ``seq`` for any resume point.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec

from app.core import jsonable
from app.db import events as event_rows
from app.services.protocol_v2_translate import PER_EVENT, Lookup, Translator, V2Event
from app.services.streams import Cursor, StreamService

__all__ = ["PER_EVENT", "Filter", "Lookup", "V2Event", "encode", "events", "latest_seq"]

V2_STREAM_MODES = ["values", "updates", "messages-tuple", "custom", "tasks"]
DIRECT_CHANNELS = frozenset(
    {"values", "updates", "messages", "tools", "lifecycle", "tasks", "checkpoints", "custom"}
)
CHANNELS = DIRECT_CHANNELS | {"input"}


class Filter(msgspec.Struct, frozen=True):
    """What one subscription wants (the body of ``POST /threads/{id}/stream/events``)."""

    channels: list[str]
    namespaces: list[list[str]] | None = None
    depth: int | None = None
    since: int | None = None

    def wants(self, event: V2Event) -> bool:
        if self.since is not None and event.seq <= self.since:
            return False
        channel = event.channel()
        if channel not in self.channels and not (
            channel.startswith("custom:") and "custom" in self.channels
        ):
            return False
        return self._namespace_ok(event.namespace)

    def _namespace_ok(self, namespace: list[str]) -> bool:
        if not self.namespaces:
            return True
        for prefix in self.namespaces:
            if _is_prefix(namespace, prefix) and (
                self.depth is None or len(namespace) - len(prefix) <= self.depth
            ):
                return True
        return False


def _is_prefix(namespace: list[str], prefix: list[str]) -> bool:
    """``prefix`` starts ``namespace``; a prefix segment without ``:`` matches any task id."""
    if len(prefix) > len(namespace):
        return False
    for want, got in zip(prefix, namespace, strict=False):
        if want != got and (":" in want or got.split(":", 1)[0] != want):
            return False
    return True


def encode(event: V2Event) -> str:
    return jsonable.dumps_str(event.wire())


async def events(
    streams: StreamService, thread_id: uuid.UUID, wanted: Filter, lookup: Lookup
) -> AsyncIterator[V2Event | None]:
    """The thread's v2 events that ``wanted`` asks for, live, until the thread is deleted
    (or the process drains); None for each heartbeat. The log is translated from its start
    (see the module docstring), so ``since`` resumes exactly after that event."""
    translator = Translator(lookup)
    async for stored in streams.thread_events(thread_id, Cursor(after=0)):
        if stored is None:
            yield None
            continue
        for event in await translator.feed(stored):
            if wanted.wants(event):
                yield event


async def latest_seq(streams: StreamService, thread_id: uuid.UUID) -> int:
    """The highest ``seq`` the thread's log can hold now (a command's
    ``applied_through_seq``): every event written later has a higher one."""
    async with streams.pool.acquire() as conn:
        last = await event_rows.last_id(conn, thread_id=thread_id)
    return last * PER_EVENT + PER_EVENT - 1 if last else 0
