"""Latest version of every watched object, by key, with a change callback.

The watcher writes into it; the reconciler reads from it. Every change (an
object added, changed, or deleted) calls ``on_change(key)``; for a deletion the
cache no longer holds the object when the callback runs. ``replace`` applies a
fresh list, turning objects that vanished while the watch was away into
deletions. An object whose resourceVersion did not change is not reported again.

A cache given ``keep`` holds only the objects whose key it accepts: the others are
dropped as they arrive, so memory follows what is kept, not what is watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, KeysView, Mapping
from typing import Any

from controller.keys import ObjectKey

ChangeCallback = Callable[[ObjectKey], None]
Keep = Callable[[ObjectKey], bool]


def resource_version(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return None
    version = metadata.get("resourceVersion")
    return version if isinstance(version, str) else None


def spec_version(obj: Mapping[str, Any]) -> str:
    """What changes when an object is changed, not when only its status is: its
    generation where its kind has one, else its resourceVersion."""
    metadata = obj.get("metadata") or {}
    generation = metadata.get("generation")
    if isinstance(generation, int) and generation > 0:
        return f"generation {generation}"
    return f"resourceVersion {metadata.get('resourceVersion')}"


class OwnWrites:
    """Read-your-writes over a Cache: our last write of an object until the cache has it.

    The cache lags our own writes; while it still holds a version our write superseded,
    the written object is the truth (otherwise a lagging status would look like a
    release changed behind our back and trigger a needless upgrade). Once the cache
    holds any other version (ours arrived, or someone wrote after us), it wins.
    """

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._written: dict[ObjectKey, tuple[frozenset[str], Mapping[str, Any]]] = {}

    def get(self, key: ObjectKey) -> Mapping[str, Any] | None:
        """The freshest object we know of: our write, or the cache's; None when deleted."""
        cached = self._cache.get(key)
        written = self._written.get(key)
        if cached is None or written is None:
            self._written.pop(key, None)
            return cached
        superseded, obj = written
        if resource_version(cached) in superseded:
            return obj
        del self._written[key]  # the cache caught up (or someone else wrote since)
        return cached

    def remember(self, key: ObjectKey, superseded: Iterable[str], obj: Mapping[str, Any]) -> None:
        """``obj`` is the object after our writes, which superseded these resourceVersions."""
        versions = frozenset(superseded)
        if not versions:
            return
        earlier = self._written.get(key)
        if earlier is not None:
            versions |= earlier[0]
        self._written[key] = (versions, obj)

    def forget(self, key: ObjectKey) -> None:
        self._written.pop(key, None)


class Cache:
    """Objects of one kind, keyed by ``ObjectKey``; fed by one ``Watcher`` per API group.

    ``groups``: the API groups whose watchers fill the cache (one kind served by several
    groups, as HelmRelease is; default: one group); each watcher's list replaces only its
    own group's keys, and the cache is synced once every group was listed.

    ``keep``: which keys to hold (default: all). An object it refuses is not held; a
    held one it refuses when it next arrives is forgotten, and neither is a change (no
    callback): the cache holds only what someone cares about, and an object that is
    kept again is reported as added at its next event.
    """

    def __init__(
        self,
        on_change: ChangeCallback | None = None,
        *,
        groups: Iterable[str] = (),
        keep: Keep | None = None,
        synced: asyncio.Event | None = None,
    ) -> None:
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._on_change = on_change
        self._keep = keep
        self._unlisted = set(groups)
        self.synced = synced or asyncio.Event()
        """Set once a complete list of every group has been applied (``synced``, when given:
        someone else's event, set with it)."""

    def set_on_change(self, callback: ChangeCallback | None) -> None:
        """Call ``callback(key)`` for every change from now on."""
        self._on_change = callback

    def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The latest object (shared, do not modify), or None when it does not exist."""
        return self._objects.get(key)

    def keys(self) -> KeysView[ObjectKey]:
        return self._objects.keys()

    def __iter__(self) -> Iterator[ObjectKey]:
        return iter(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def put(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """Store an added or changed object (forget it, silently, when not kept)."""
        if self._keep is not None and not self._keep(key):
            self._objects.pop(key, None)
            return
        previous = self._objects.get(key)
        self._objects[key] = obj
        if previous is None or resource_version(previous) != resource_version(obj):
            self._notify(key)

    def delete(self, key: ObjectKey) -> None:
        """Forget a deleted object."""
        if self._objects.pop(key, None) is not None:
            self._notify(key)

    def forget(self, key: ObjectKey) -> None:
        """Stop holding an object no longer kept; not a change (no callback)."""
        self._objects.pop(key, None)

    def replace(self, group: str, objects: Iterable[tuple[ObjectKey, dict[str, Any]]]) -> None:
        """Make the cache hold exactly ``objects`` (a full list) of API group ``group``."""
        listed: set[ObjectKey] = set()
        for key, obj in objects:
            listed.add(key)
            self.put(key, obj)
        for key in [key for key in self._objects if key.group == group and key not in listed]:
            self.delete(key)
        self._unlisted.discard(group)
        if not self._unlisted:
            self.synced.set()

    def _notify(self, key: ObjectKey) -> None:
        if self._on_change is not None:
            self._on_change(key)
