"""A cache bounded in bytes: least recently used entries go first."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

from app.core import jsonable

K = TypeVar("K")
V = TypeVar("V")


def json_size(value: Any) -> int | None:
    """The size of ``value`` as JSON, or None if it cannot be encoded."""
    try:
        return len(jsonable.dumps(value))
    except Exception:  # an unencodable value is simply not cached
        return None


class ByteBoundedCache(Generic[K, V]):
    """At most ``max_bytes`` of values in all (their JSON size), none larger than
    ``max_entry_bytes`` (such a value is not kept), at most ``max_entries`` entries."""

    def __init__(self, *, max_bytes: int, max_entry_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V) -> bool:
        """Keep ``value`` (evicting the least recently used); False if it is too large
        (then nothing is kept for ``key``)."""
        self.pop(key)
        size = json_size(value)
        if size is None or size > self.max_entry_bytes:
            return False
        self._items[key] = (value, size)
        self.bytes += size
        while self._items and (self.bytes > self.max_bytes or len(self._items) > self.max_entries):
            _, (_, old) = self._items.popitem(last=False)
            self.bytes -= old
        return True

    def pop(self, key: K) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self.bytes -= item[1]
