"""One lock per Helm release: the second level of exclusion, after the work queue's.

The queue never hands one HelmRelease to two workers; these locks make sure that two
HelmReleases naming the same Helm release never run helm on it at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from controller.keys import ReleaseKey


@dataclass
class _LockEntry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ReleaseLocks:
    """One lock per Helm release, created on demand and removed when nobody uses it."""

    def __init__(self) -> None:
        self._entries: dict[ReleaseKey, _LockEntry] = {}

    @asynccontextmanager
    async def hold(self, key: ReleaseKey) -> AsyncIterator[None]:
        """Hold the lock of ``key`` for the body of the ``async with``."""
        entry = self._entries.setdefault(key, _LockEntry())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def __len__(self) -> int:
        """Helm releases with a holder or a waiter."""
        return len(self._entries)
