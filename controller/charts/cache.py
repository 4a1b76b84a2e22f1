"""Content-addressed on-disk chart cache with a size bound and LRU eviction.

Files are ``<directory>/<sha256>.tgz`` (mode 0o600, directory 0o700), moved into place by
an atomic rename. An in-memory map (repository, credentials, chart, version) -> digest
lets a known chart be served without a download. Files left by an earlier run are found
at start-up and reused once their content is verified. A chart handed out within
``in_use_grace`` seconds is never evicted: a worker may still be reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from controller.charts.auth import RepoAuth
from controller.charts.download import TEMP_PREFIX, TEMP_SUFFIX

log = logging.getLogger(__name__)

IN_USE_GRACE: Final = 60.0
TOUCH_INTERVAL: Final = 10.0
"""A file's mtime is refreshed at most this often (seconds): the LRU order on disk, for
the next run, needs no finer grain, and every refresh is a trip to a thread."""
STALE_TEMP_AGE: Final = 3600.0
"""Temp files older than this (seconds) are leftovers of an interrupted download."""
_CACHED_NAME = re.compile(r"([0-9a-f]{64})\.tgz")

CacheKey = tuple[str, RepoAuth | None, str, str]
"""(repository, credentials, chart name, version)."""


@dataclass(frozen=True)
class CachedChart:
    path: Path
    digest: str


@dataclass
class _File:
    size: int
    verified: bool
    """False for files found at start-up until their content is checked."""
    handed_out_at: float | None = None
    touched_at: float | None = None
    """When its mtime was last refreshed (by ``checkout``)."""


@dataclass(frozen=True)
class _Found:
    digest: str
    size: int
    mtime: float


class ChartCache:
    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        clock: Callable[[], float],
        in_use_grace: float = IN_USE_GRACE,
    ) -> None:
        self.directory = directory
        self._max_bytes = max_bytes
        self._clock = clock
        self._in_use_grace = in_use_grace
        self._files: OrderedDict[str, _File] = OrderedDict()  # least recently used first
        self._total = 0
        self._digests: dict[CacheKey, str] = {}
        self._keys: dict[str, set[CacheKey]] = {}
        # Serialises renames into and deletions from the directory.
        self._lock = asyncio.Lock()
        self._ready = False

    def path_of(self, digest: str) -> Path:
        return self.directory / f"{digest}.tgz"

    async def prepare(self) -> None:
        """Create the directory and take stock of what an earlier run left (once)."""
        if not self._ready:
            async with self._lock:
                await self._take_stock()

    async def _take_stock(self) -> None:
        if self._ready:  # another caller did it while we waited for the lock
            return
        found = await asyncio.to_thread(self._scan)
        for item in sorted(found, key=lambda f: f.mtime):
            self._files[item.digest] = _File(item.size, verified=False)
            self._total += item.size
        self._ready = True
        await self._evict()
        log.debug("chart cache %s: %d files, %d bytes", self.directory, len(found), self._total)

    def _scan(self) -> list[_Found]:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # a mount point (an emptyDir) keeps its mode
            os.chmod(self.directory, 0o700)
        found = []
        now = time.time()
        for entry in os.scandir(self.directory):
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            match = _CACHED_NAME.fullmatch(entry.name)
            if match:
                found.append(_Found(match.group(1), stat.st_size, stat.st_mtime))
            elif (
                entry.name.startswith(TEMP_PREFIX)
                and entry.name.endswith(TEMP_SUFFIX)
                and now - stat.st_mtime > STALE_TEMP_AGE
            ):
                Path(entry.path).unlink(missing_ok=True)
        return found

    async def recall(self, key: CacheKey) -> CachedChart | None:
        """The chart cached for ``key``, marked as just used; None when unknown."""
        digest = self._digests.get(key)
        return await self.checkout(digest) if digest is not None else None

    async def checkout(self, digest: str) -> CachedChart | None:
        """The verified cached file with this digest, marked as just used."""
        file = self._files.get(digest)
        if file is None or not file.verified:
            return None
        self._use(digest, file)
        path = self.path_of(digest)
        now = self._clock()
        if file.touched_at is None or now - file.touched_at >= TOUCH_INTERVAL:
            file.touched_at = now  # before the thread: callers meanwhile need no touch
            try:  # the mtime carries the LRU order across restarts
                await asyncio.to_thread(os.utime, path)
            except FileNotFoundError:
                log.warning("cached chart %s vanished from %s", digest, self.directory)
                self._forget(digest)
                return None
        return CachedChart(path, digest)

    async def adopt(self, digest: str, verify: Callable[[Path], bool]) -> CachedChart | None:
        """A file of an earlier run with this digest, once ``verify`` (run in a thread)
        accepts it; a file it rejects is deleted."""
        file = self._files.get(digest)
        if file is None:
            return None
        if not file.verified:
            self._use(digest, file)  # keeps eviction away while verifying
            path = self.path_of(digest)
            if not await asyncio.to_thread(verify, path):
                log.warning("cached chart %s failed verification; deleting it", digest)
                async with self._lock:
                    self._forget(digest)
                    await asyncio.to_thread(path.unlink, missing_ok=True)
                return None
            file.verified = True
        return await self.checkout(digest)

    def remember(self, key: CacheKey, digest: str) -> None:
        self._digests[key] = digest
        self._keys.setdefault(digest, set()).add(key)

    async def add(self, temp_path: Path, digest: str, size: int) -> CachedChart:
        """Move a verified download into the cache (it then counts as just used)."""
        async with self._lock:
            path = self.path_of(digest)
            await asyncio.to_thread(os.replace, temp_path, path)
            previous = self._files.pop(digest, None)
            if previous is not None:
                self._total -= previous.size
            file = _File(size, verified=True)
            self._files[digest] = file
            self._total += size
            self._use(digest, file)
            await self._evict()
        return CachedChart(path, digest)

    def _use(self, digest: str, file: _File) -> None:
        file.handed_out_at = self._clock()
        self._files.move_to_end(digest)

    async def _evict(self) -> None:
        """Delete least recently used files until the size bound holds (lock held)."""
        now = self._clock()
        victims = []
        excess = self._total - self._max_bytes
        for digest, file in self._files.items():
            if excess <= 0:
                break
            if file.handed_out_at is not None and now - file.handed_out_at < self._in_use_grace:
                continue
            victims.append(digest)
            excess -= file.size
        if not victims:
            return
        for digest in victims:
            self._forget(digest)
        paths = [self.path_of(digest) for digest in victims]
        await asyncio.to_thread(_unlink_all, paths)
        log.info("evicted %d charts from the cache %s", len(victims), self.directory)

    def _forget(self, digest: str) -> None:
        file = self._files.pop(digest, None)
        if file is not None:
            self._total -= file.size
        for key in self._keys.pop(digest, set()):
            self._digests.pop(key, None)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
