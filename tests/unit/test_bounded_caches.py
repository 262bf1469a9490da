"""The in-memory caches are bounded in bytes (their values' JSON size)."""

from __future__ import annotations

import time
import uuid

from app.core.bounded import ByteBoundedCache
from app.db import notify
from app.db.notify import UNKNOWN, Hub


def test_hub_keeps_outputs_within_its_byte_budget() -> None:
    hub = Hub("postgresql://unused")
    big = {"text": "x" * (200 * 1024)}  # ~200 KiB as JSON
    ids = [uuid.uuid4() for _ in range(500)]
    for run_id in ids:
        hub.signal_done(run_id, big)
    stats = hub.cache_stats()
    print(f"\nhub after 500 outputs of 200 KiB: {stats}")
    assert stats["bytes"] <= notify.RECENT_BYTES
    assert stats["outputs"] == notify.RECENT_BYTES // len('{"text":""}' + "x" * 200 * 1024)
    assert hub.recent_outcome(ids[-1]) == big  # the newest are kept
    assert hub.recent_outcome(ids[0]) is UNKNOWN  # the oldest: "ended, read the row"
    # Too large for one entry: only the end is remembered.
    huge = uuid.uuid4()
    hub.signal_done(huge, {"text": "x" * (notify.RECENT_ENTRY_BYTES + 1)})
    assert hub.recent_outcome(huge) is UNKNOWN
    # The NOTIFY echo (UNKNOWN) does not erase a kept output; a count cap still holds.
    hub.signal_done(ids[-1])
    assert hub.recent_outcome(ids[-1]) == big
    for _ in range(notify.RECENT_DONE + 10):
        hub.signal_done(uuid.uuid4())
    stats = hub.cache_stats()
    assert stats["entries"] == notify.RECENT_DONE
    assert (stats["outputs"], stats["bytes"]) == (0, 0)


def test_byte_bounded_cache() -> None:
    cache: ByteBoundedCache[int, str] = ByteBoundedCache(
        max_bytes=1000, max_entry_bytes=400, max_entries=10
    )
    assert cache.put(1, "a" * 300)
    assert cache.put(2, "b" * 300)
    assert cache.get(1) is not None  # 1 is now the most recently used
    assert cache.put(3, "c" * 300)
    assert cache.put(4, "d" * 300)  # over 1000 bytes: the least recently used (2) goes
    assert cache.get(2) is None
    assert cache.get(1) is not None
    assert cache.bytes <= 1000
    assert not cache.put(5, "e" * 500)  # over the entry budget: not kept
    assert cache.get(5) is None
    cache.pop(1)
    assert (len(cache), cache.bytes) == (2, 2 * 302)


def test_hub_due_times_stay_bounded_without_a_dispatcher() -> None:
    """A process without workers hears every delayed run's NOTIFY but never pops."""
    hub = Hub("postgresql://unused")
    now = time.time()
    for i in range(3 * notify.DUE_LIMIT):
        hub.note_due(now - 1 if i % 2 else now + 60 + i)  # half of them already past
    assert len(hub._due) <= notify.DUE_LIMIT
    nxt = hub.next_due()
    assert nxt is not None
    assert 59 < nxt <= 61  # the earliest future time is kept
