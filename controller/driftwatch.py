"""Drift checks woken by the checked objects themselves, not only by the schedule.

Each drift check tells ``DriftWatches.checked`` which objects of its HelmRelease it
compared, with their version (generation, or resourceVersion for kinds without one). For
every kind among them one metadata-only watch runs, of the objects helm labels as its own
(``app.kubernetes.io/managed-by=Helm``), and keeps only the checked ones: memory follows
the releases under drift detection, never the cluster's objects. A kept object that is
deleted, or changed in its spec (a new version: status updates leave the generation as it
is), wakes its HelmRelease for a check at once. A kind no checked object has any more is
no longer watched; nothing is watched while no HelmRelease has drift detection on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from controller.keys import ObjectKey
from controller.kube.cache import Cache, spec_version
from controller.kube.client import KubeClient
from controller.kube.discovery import Located
from controller.kube.watching import WatchedResource, Watcher
from controller.settings import WatchSettings

log = logging.getLogger(__name__)

HELM_SELECTOR = "app.kubernetes.io/managed-by=Helm"
"""The label helm sets on every object it applies."""
DRIFT_MODES = ("enabled", "warn")


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str


@dataclass(frozen=True)
class _Watch:
    cache: Cache
    task: asyncio.Task[None]


class DriftWatches:
    """The watches of the objects drift checks compared; run ``run`` as a root task."""

    def __init__(
        self, client: KubeClient, settings: WatchSettings, wake: Callable[[ObjectKey], None]
    ) -> None:
        self._client = client
        self._settings = settings
        self._wake = wake
        self._objects: dict[tuple[Kind, ObjectKey], tuple[ObjectKey, str | None]] = {}
        """Each checked object -> (its HelmRelease, its version when checked)."""
        self._of_owner: dict[ObjectKey, set[tuple[Kind, ObjectKey]]] = {}
        self._watches: dict[Kind, _Watch] = {}
        self._changed = asyncio.Event()

    def checked(self, owner: ObjectKey, seen: tuple[tuple[Located, str | None], ...]) -> None:
        """The objects HelmRelease ``owner``'s check compared (all of them: those it held
        before and no longer has are forgotten)."""
        held = {(_kind(located), _key(located)): version for located, version in seen}
        self._drop(owner, keep=held.keys())
        for entry, version in held.items():
            self._objects[entry] = (owner, version)
            kind, key = entry
            watch = self._watches.get(kind)
            if watch is not None and version is not None and key not in watch.cache:
                # listed before it was checked: held from now on, so that its deletion
                # is seen (a change arrives with a resourceVersion, and is compared)
                watch.cache.put(key, {"metadata": {}, "version": version})
        if held:
            self._of_owner[owner] = set(held)
        self._changed.set()

    def forget(self, owner: ObjectKey) -> None:
        """``owner`` has no drift detection any more (or is gone)."""
        if owner in self._of_owner:
            self._drop(owner)
            self._changed.set()

    def kinds(self) -> frozenset[Kind]:
        """The kinds watched right now."""
        return frozenset(self._watches)

    def listed(self) -> bool:
        """Whether every watch started has listed its objects (it sees changes from now)."""
        return all(watch.cache.synced.is_set() for watch in self._watches.values())

    async def run(self) -> None:
        """Start and stop the watches as the checked kinds come and go, until cancelled."""
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                needed = {kind for kind, _ in self._objects}
                for kind in needed - self._watches.keys():
                    self._watches[kind] = self._start(kind)
                for kind in self._watches.keys() - needed:
                    await _stop(self._watches.pop(kind))
        finally:
            for watch in self._watches.values():
                await _stop(watch)
            self._watches.clear()

    def _drop(self, owner: ObjectKey, keep: Collection[tuple[Kind, ObjectKey]] = ()) -> None:
        """Forget what ``owner`` held, but ``keep`` (still held: its watch keeps it)."""
        for entry in self._of_owner.pop(owner, set()) - set(keep):
            if self._objects.get(entry, (None,))[0] == owner:
                del self._objects[entry]
                if (watch := self._watches.get(entry[0])) is not None:
                    watch.cache.forget(entry[1])

    def _start(self, kind: Kind) -> _Watch:
        cache = Cache(keep=lambda key: (kind, key) in self._objects)
        cache.set_on_change(lambda key: self._changed_object(kind, key, cache))
        resource = WatchedResource(
            kind.group,
            kind.version,
            kind.plural,
            self._settings.namespace,
            HELM_SELECTOR,
            metadata_only=True,
        )
        watcher = Watcher(self._client, resource, cache, self._settings, transform=_versioned)
        name = f"drift-watch {kind.plural}.{kind.group or 'core'}"
        return _Watch(cache, asyncio.create_task(_watch(watcher, resource), name=name))

    def _changed_object(self, kind: Kind, key: ObjectKey, cache: Cache) -> None:
        found = self._objects.get((kind, key))
        if found is None:
            return
        owner, version = found
        obj = cache.get(key)
        now = None if obj is None else obj["version"]
        if now != version:
            self._objects[(kind, key)] = (owner, now)
            self._wake(owner)


def _kind(located: Located) -> Kind:
    return Kind(located.group, located.version, located.plural)


def _key(located: Located) -> ObjectKey:
    return ObjectKey(located.group, located.namespace or "", located.name)


def _versioned(obj: dict[str, Any]) -> dict[str, Any]:
    """What is kept of an object: its version alone (as drift checks tell it)."""
    metadata = obj.get("metadata") or {}
    return {
        "metadata": {"resourceVersion": metadata.get("resourceVersion")},
        "version": spec_version(obj),
    }


async def _watch(watcher: Watcher, resource: WatchedResource) -> None:
    try:
        await watcher.run()
    except Exception:  # a bug: drift checks still run on their schedule
        log.exception("the watch of %s for drift detection stopped", resource)


async def _stop(watch: _Watch) -> None:
    watch.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watch.task


def forget_when_off(releases: Cache, drift: DriftWatches) -> Callable[[ObjectKey], None]:
    """A HelmRelease cache callback: a HelmRelease deleted, or whose drift detection is
    turned off, stops holding its objects in the drift watches."""

    def changed(key: ObjectKey) -> None:
        obj = releases.get(key)
        if obj is None or _mode(obj) not in DRIFT_MODES:
            drift.forget(key)

    return changed


def _mode(obj: Mapping[str, Any]) -> Any:
    spec = obj.get("spec")
    detection = spec.get("driftDetection") if isinstance(spec, Mapping) else None
    return detection.get("mode") if isinstance(detection, Mapping) else None
