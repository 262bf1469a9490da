"""A create-and-stream's first event (``StreamService.new_run_events``): sent at once, and
the worker's copy of it skipped, compared by value."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from app.db.events import Event
from app.services.streams import Cursor, StreamService

RUN = uuid.UUID("00000000-0000-7000-8000-000000000003")


class Log(StreamService):
    def __init__(self, events: list[Event | None]) -> None:
        self.events = events

    async def run_events(
        self, run_id: uuid.UUID, cursor: Cursor, *, watch: bool = True
    ) -> AsyncIterator[Event | None]:
        assert cursor.after == 0
        assert not watch  # the creator's run writes its events anyway
        for event in self.events:
            yield event


def _event(n: int, name: str, data: Any) -> Event:
    # Spaced differently from the server's own encoding: compared as values, not bytes.
    return Event(n, n, RUN, name, msgspec.json.encode(data).decode().replace(",", ", "))


async def _read(events: list[Event | None]) -> list[tuple[str, Any] | None]:
    got = [e async for e in Log(events).new_run_events(RUN)]
    return [None if e is None else (e.event, msgspec.json.decode(e.data)) for e in got]


async def test_the_workers_copy_is_skipped() -> None:
    first = {"run_id": str(RUN), "attempt": 1}
    got = await _read(
        [None, _event(1, "metadata", first), _event(2, "values", {"a": 1}), _event(3, "end", None)]
    )
    assert got == [("metadata", first), None, ("values", {"a": 1}), ("end", None)]


async def test_a_later_attempts_metadata_is_kept() -> None:
    first = {"run_id": str(RUN), "attempt": 1}
    second = {"run_id": str(RUN), "attempt": 2}
    got = await _read([_event(1, "metadata", second), _event(2, "values", {})])
    assert got == [("metadata", first), ("metadata", second), ("values", {})]
