"""Reads kept in a process: a thread-safe cache of at most `budget` bytes, least recently used out first, keyed
by what was read, including the identity of every file read (file_identity: a file stored again, even at the
same path, is another key and is read again).

Two stores use it: the edit tables' small row-group reads (ingest.edit_store.StoredEdits) and the code-set
release tables rebuilt from their changes and checked (ingest.store.read_release_bytes). One process that reads
the same stored release many times (the lookup's index, the test suite, a long-lived server) reads it once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict


def file_identity(path) -> tuple:
    """What names one version of a file: its path, device, inode, size and modification time (OSError when it
    does not exist). The store writes atomically (a new file renamed over the old), so a file written again is
    a new inode as well as a new time."""
    st = os.stat(path)
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Kept:
    """A cache of at most `budget` bytes; a value larger than `largest` (default: a quarter of the budget) is
    never kept, so one large read cannot empty it."""

    def __init__(self, budget: int, largest: int | None = None):
        self.budget = budget
        self.largest = budget // 4 if largest is None else largest
        self.bytes = 0
        self._items: OrderedDict[tuple, tuple[object, int]] = OrderedDict()  # oldest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key):
        """The value kept under key (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value, size: int) -> None:
        """Keep value (of `size` bytes) under key, in place of what was kept under it, unless it is larger
        than `largest`; the least recently used go until the rest fit the budget."""
        if size > self.largest:
            return
        with self._lock:
            if key in self._items:  # kept again (a fuller answer): the new value replaces the old
                self.bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.budget:
                self.bytes -= self._items.popitem(last=False)[1][1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0
