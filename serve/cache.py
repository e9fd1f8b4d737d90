"""A small thread-safe LRU cache bounded by bytes, for parsed records and rewritten pages.

Entries are keyed by a record's verified digest: a record's bytes are still read and hashed on
every request, and only work that follows from bytes already proven good (parsing, rewriting)
is reused.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable, Optional


class ByteLRU:
    """Keeps the most recently used values whose sizes add up to at most ``budget`` bytes."""

    def __init__(self, budget: int, max_item: Optional[int] = None) -> None:
        self.budget = budget
        self.max_item = max_item if max_item is not None else budget // 8
        self._items: OrderedDict = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The cached value or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        """Caches ``value`` (of ``size`` bytes) unless it alone is too large."""
        if self.budget <= 0 or size > self.max_item:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (value, size)
            self._size += size
            while self._size > self.budget and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped
