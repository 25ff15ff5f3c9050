"""In-process caches of database facts (boundaries, assignments) and when to drop them.

A change bumps a named revision in the same transaction (core.audit.bump_revision). Every
process reads all revisions at most once per GRID_INDEX_REFRESH_SECONDS, so a change made by
another process reaches this one within that time, at the cost of one small query."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from grid_backend.settings import get_settings


class RevisionWatcher:
    def __init__(self) -> None:
        self.revisions: dict[str, int] = {}
        self.checked_at = float("-inf")
        self._lock: asyncio.Lock | None = None

    def expire(self) -> None:
        """Read the revisions again on the next call (after a change made here)."""
        self.checked_at = float("-inf")

    def fresh(self, name: str) -> int | None:
        """The revision without waiting, if it was read recently enough; else None."""
        if time.monotonic() - self.checked_at < get_settings().index_refresh_seconds:
            return self.revisions.get(name, 0)
        return None

    async def get(self, name: str) -> int:
        if time.monotonic() - self.checked_at >= get_settings().index_refresh_seconds:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if time.monotonic() - self.checked_at >= get_settings().index_refresh_seconds:
                    from grid_backend.core.tables import GeoRevision

                    rows = await GeoRevision.select(GeoRevision.name, GeoRevision.revision).run()
                    self.revisions = {r["name"]: r["revision"] for r in rows}
                    self.checked_at = time.monotonic()
        return self.revisions.get(name, 0)


watcher = RevisionWatcher()


class RevisionCache:
    """A bounded LRU mapping that empties itself when its revision or the day changes."""

    instances: list[RevisionCache] = []

    def __init__(self, name: str, max_entries: int = 100_000) -> None:
        RevisionCache.instances.append(self)
        self.name = name
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._stamp: tuple[int, Any] | None = None

    async def lookup(self, key: Hashable, day: Any) -> tuple[bool, Any]:
        stamp = (await watcher.get(self.name), day)
        if stamp != self._stamp:
            self._data.clear()
            self._stamp = stamp
            return False, None
        if key in self._data:
            self._data.move_to_end(key)
            return True, self._data[key]
        return False, None

    def store(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        if len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()
        self._stamp = None


def reset_all() -> None:
    """Forget every cached fact (tests that recreate the database between cases)."""
    watcher.revisions.clear()
    watcher.expire()
    for cache in RevisionCache.instances:
        cache.clear()
