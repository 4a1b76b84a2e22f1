"""Objects, resourceVersions and the event history of the in-memory API server.

Every write is synchronous (no await inside), so a write, its event and the
fan-out to watchers are atomic for the event loop. Stored object dicts are never
mutated in place: a write stores a new dict, so readers may hold on to (and
serialise) what they got without copying. Once a write's event is out, the garbage
collector (``gc``) does what the write calls for, in the same step.

The event history is bounded like etcd's compacted one: the objects of a resource as they
were at any resourceVersion it still covers can be rebuilt (``snapshot``), for LISTs at an
exact resourceVersion and for the pages after the first.
"""

from __future__ import annotations

import bisect
import secrets
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from . import errors, jsontext
from .gc import BACKGROUND_DELETION, GarbageCollector, Propagation
from .patch import ManagedFields
from .resources import NAMESPACES, GroupResource

ObjectKey = tuple[GroupResource, str, str]
"""(group resource, namespace or "" for cluster-scoped objects, name)."""

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SPEC_EXEMPT = frozenset({"apiVersion", "kind", "metadata", "status"})
SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "generation")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchEvent:
    """One change, kept in the history and fanned out to watchers."""

    rv: int
    type: str
    resource: GroupResource
    obj: dict[str, Any]
    old: dict[str, Any] | None = field(default=None, compare=False)

    @cached_property
    def line(self) -> bytes:
        """The event as one JSON line, serialised once however many watchers get it."""
        return encode_event(self.type, self.obj)


def encode_event(event_type: str, obj: dict[str, Any]) -> bytes:
    return jsontext.dumps({"type": event_type, "object": obj}) + b"\n"


@dataclass
class Entry:
    obj: dict[str, Any]
    managed: ManagedFields


Listener = Callable[[WatchEvent], None]


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    """Namespace and name: the order the real server lists objects in."""
    md = meta(obj)
    return (md.get("namespace", ""), md.get("name", ""))


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in SPEC_EXEMPT}


class Store:
    """All objects, one global resourceVersion counter and a bounded event history."""

    def __init__(
        self,
        history_limit: int = 10_000,
        status_split: Callable[[GroupResource], bool] = lambda resource: False,
    ) -> None:
        """``status_split`` tells which resources have a status subresource."""
        self._objects: dict[GroupResource, dict[str, dict[str, Entry]]] = {}
        self._by_uid: dict[str, ObjectKey] = {}
        self._dependents: dict[str, set[ObjectKey]] = {}
        self._history: list[WatchEvent] = []
        self._history_limit = history_limit
        self._floor = 0
        self._rv = 0
        self._listeners: list[Listener] = []
        self._status_split = status_split
        self._gc = GarbageCollector(self)
        for name in INITIAL_NAMESPACES:
            self.create(
                NAMESPACES,
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                {},
            )

    # -- reading ---------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def history_floor(self) -> int:
        """Watches from a resourceVersion below this get 410 Expired."""
        return self._floor

    def get(self, resource: GroupResource, namespace: str, name: str) -> Entry | None:
        return self._objects.get(resource, {}).get(namespace, {}).get(name)

    def get_object(self, resource: GroupResource, namespace: str, name: str) -> dict[str, Any]:
        entry = self.get(resource, namespace, name)
        if entry is None:
            raise errors.not_found(resource, name)
        return entry.obj

    def objects(self, resource: GroupResource, namespace: str | None) -> Iterator[dict[str, Any]]:
        """Objects of one resource in one namespace (all when None), in no particular order."""
        by_namespace = self._objects.get(resource, {})
        if namespace is not None:
            return (e.obj for e in by_namespace.get(namespace, {}).values())
        return (e.obj for entries in by_namespace.values() for e in entries.values())

    def key_of(self, uid: str) -> ObjectKey | None:
        """Where the object with this uid is stored, None when there is none."""
        return self._by_uid.get(uid)

    def dependents(self, owner_uid: str) -> list[ObjectKey]:
        """The objects whose ownerReferences name this uid, in a stable order."""
        return sorted(self._dependents.get(owner_uid, ()))

    def snapshot(
        self, resource: GroupResource, namespace: str | None, rv: int
    ) -> list[dict[str, Any]] | None:
        """Objects of one resource (in one namespace, all when None) as they were at
        resourceVersion ``rv``; None when the history no longer reaches back that far."""
        if rv < self._floor or rv > self._rv:
            return None
        state = {
            (meta(obj).get("namespace", ""), meta(obj)["name"]): obj
            for obj in self.objects(resource, namespace)
        }
        start = bisect.bisect_right(self._history, rv, key=lambda e: e.rv)
        for event in reversed(self._history[start:]):
            if event.resource != resource:
                continue
            md = meta(event.obj)
            if namespace is not None and md.get("namespace", "") != namespace:
                continue
            key = (md.get("namespace", ""), md["name"])
            if event.type == "ADDED":
                state.pop(key, None)
            elif event.old is not None:
                state[key] = event.old
        return list(state.values())

    def namespace_exists(self, namespace: str) -> bool:
        return self.get(NAMESPACES, "", namespace) is not None

    def events_since(self, rv: int) -> list[WatchEvent] | None:
        """History after ``rv``; None when part of it was already dropped."""
        if rv < self._floor:
            return None
        start = bisect.bisect_right(self._history, rv, key=lambda e: e.rv)
        return self._history[start:]

    # -- listeners -------------------------------------------------------------------------

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The listeners called with every event (the watch hub, the simulator, LISTs waiting
        for a resourceVersion)."""
        return tuple(self._listeners)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def compact(self) -> None:
        """Drop the whole event history, like an etcd compaction."""
        self._history.clear()
        self._floor = self._rv

    # -- writing ---------------------------------------------------------------------------

    def create(
        self,
        resource: GroupResource,
        obj: dict[str, Any],
        managed: ManagedFields,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Store a new object; ``obj`` is owned by the store from now on.

        With ``dry_run`` every check runs and the would-be object is returned, unstored.
        """
        metadata = dict(meta(obj))
        namespace = metadata.get("namespace", "")
        if namespace and resource != NAMESPACES and not self.namespace_exists(namespace):
            raise errors.not_found(NAMESPACES, namespace)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = self._generate_name(resource, namespace, metadata["generateName"])
        name = metadata["name"]
        if self.get(resource, namespace, name) is not None:
            raise errors.already_exists(resource, name)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            metadata.pop(key, None)
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        obj = {**obj, "metadata": metadata}
        if resource == NAMESPACES:
            obj["status"] = {"phase": "Active"}
        elif self._status_split(resource):
            obj.pop("status", None)
        if dry_run:
            return obj
        rv = self._next_rv()
        metadata["resourceVersion"] = str(rv)
        self._put(resource, obj, managed)
        self._emit(WatchEvent(rv, "ADDED", resource, obj))
        self._gc.run()
        return obj

    def update(
        self,
        resource: GroupResource,
        obj: dict[str, Any],
        managed: ManagedFields,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Replace an object (or only its status); a stale resourceVersion is a Conflict.

        With a status subresource, writes to the main resource keep the stored
        status and writes to ``status`` keep everything else. Generation grows
        when anything outside metadata and status changes. A no-op write keeps
        the resourceVersion and sends no event, like the real server.
        """
        metadata = meta(obj)
        namespace = metadata.get("namespace", "")
        name = metadata.get("name", "")
        entry = self.get(resource, namespace, name)
        if entry is None:
            raise errors.not_found(resource, name)
        old = entry.obj
        old_meta = meta(old)
        wanted_rv = metadata.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
            raise errors.stale(resource, name)
        if subresource == "status":
            new = {**old, "status": obj.get("status")} if "status" in obj else dict(old)
            if "status" not in obj:
                new.pop("status", None)
            new_meta = dict(old_meta)
        else:
            new = dict(obj)
            if self._status_split(resource):
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
            new_meta = {k: v for k, v in metadata.items() if k not in SYSTEM_METADATA}
            new_meta.pop("managedFields", None)
            for key in SYSTEM_METADATA:
                if key in old_meta:
                    new_meta[key] = old_meta[key]
            if spec_part(new) != spec_part(old):
                new_meta["generation"] = old_meta.get("generation", 1) + 1
        new_meta["resourceVersion"] = old_meta["resourceVersion"]
        new["metadata"] = new_meta
        if new == old:
            if not dry_run:
                entry.managed = managed
            return old
        if dry_run:
            return new
        if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
            self._put(resource, new, managed, old)  # the DELETED event shows the final state
            final = self._remove(resource, namespace, name, previous=old)
            self._gc.run()
            return final
        rv = self._next_rv()
        new_meta["resourceVersion"] = str(rv)
        self._put(resource, new, managed, old)
        self._emit(WatchEvent(rv, "MODIFIED", resource, new, old))
        self._gc.run()
        return new

    def delete(
        self,
        resource: GroupResource,
        namespace: str,
        name: str,
        *,
        propagation: Propagation = BACKGROUND_DELETION,
        precondition_rv: str | None = None,
        precondition_uid: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete an object: only mark it while finalizers remain, else remove it.

        The propagation sets the garbage collector's finalizers first (``orphan``,
        ``foregroundDeletion``), as the real registry does; marking an object bumps its
        generation. Deleting a namespace removes its objects.
        """
        entry = self.get(resource, namespace, name)
        if entry is None:
            raise errors.not_found(resource, name)
        old_meta = meta(entry.obj)
        if precondition_rv and precondition_rv != old_meta["resourceVersion"]:
            raise errors.conflict(
                resource,
                name,
                "the ResourceVersion in the precondition "
                f"({precondition_rv}) does not match the ResourceVersion in "
                f"record ({old_meta['resourceVersion']}). The object might "
                "have been modified",
            )
        if precondition_uid and precondition_uid != old_meta["uid"]:
            raise errors.conflict(
                resource,
                name,
                f"Precondition failed: UID in precondition: "
                f"{precondition_uid}, UID in object meta: {old_meta['uid']}",
            )
        old = entry.obj
        finalizers = list(old_meta.get("finalizers") or [])
        wanted = propagation.finalizers(finalizers)
        kept = finalizers if wanted is None else wanted
        if kept:
            return self._mark_deleted(resource, entry, kept, dry_run=dry_run)
        if dry_run:
            return old
        final = self._remove(resource, namespace, name)
        self._gc.run()
        return final

    def purge(self, resource: GroupResource) -> None:
        """Remove every object of a resource (its CRD went away), finalizers or not."""
        for obj in list(self.objects(resource, None)):
            md = meta(obj)
            self._remove(resource, md.get("namespace", ""), md["name"])
        self._gc.run()

    # -- internals -------------------------------------------------------------------------

    def _mark_deleted(
        self, resource: GroupResource, entry: Entry, finalizers: list[str], *, dry_run: bool
    ) -> dict[str, Any]:
        """markAsDeleting: the object stays, with its finalizers, a deletionTimestamp (kept
        when already set) and a grace period of 0; the first marking bumps its generation."""
        old = entry.obj
        old_meta = meta(old)
        new_meta = {**old_meta, "finalizers": finalizers, "deletionGracePeriodSeconds": 0}
        if not old_meta.get("deletionTimestamp"):
            new_meta["deletionTimestamp"] = now_rfc3339()
            if old_meta.get("generation", 0) > 0:
                new_meta["generation"] = old_meta["generation"] + 1
        new = {**old, "metadata": new_meta}
        if new == old or dry_run:
            return new
        rv = self._next_rv()
        new_meta["resourceVersion"] = str(rv)
        self._put(resource, new, entry.managed, old)
        self._emit(WatchEvent(rv, "MODIFIED", resource, new, old))
        self._gc.run()
        return new

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _generate_name(self, resource: GroupResource, namespace: str, prefix: str) -> str:
        alphabet = string.ascii_lowercase + string.digits
        while True:
            name = prefix + "".join(secrets.choice(alphabet) for _ in range(5))
            if self.get(resource, namespace, name) is None:
                return name

    def _put(
        self,
        resource: GroupResource,
        obj: dict[str, Any],
        managed: ManagedFields,
        old: dict[str, Any] | None = None,
    ) -> None:
        md = meta(obj)
        key: ObjectKey = (resource, md.get("namespace", ""), md["name"])
        self._objects.setdefault(resource, {}).setdefault(key[1], {})[key[2]] = Entry(obj, managed)
        self._by_uid[md["uid"]] = key
        if old is not None:
            self._unindex_owners(old, key)
        for owner_uid in _owner_uids(obj):
            self._dependents.setdefault(owner_uid, set()).add(key)
        self._gc.changed(key, old, obj)

    def _unindex_owners(self, obj: dict[str, Any], key: ObjectKey) -> None:
        for owner_uid in _owner_uids(obj):
            dependents = self._dependents.get(owner_uid)
            if dependents is not None:
                dependents.discard(key)
                if not dependents:
                    del self._dependents[owner_uid]

    def _remove(
        self,
        resource: GroupResource,
        namespace: str,
        name: str,
        *,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Remove an object (its DELETED event's old state is ``previous`` when given) and
        tell the garbage collector; the caller runs it."""
        by_namespace = self._objects[resource]
        entry = by_namespace[namespace].pop(name)
        if not by_namespace[namespace]:
            del by_namespace[namespace]
        old = entry.obj
        uid = meta(old)["uid"]
        key: ObjectKey = (resource, namespace, name)
        del self._by_uid[uid]
        self._unindex_owners(old, key)
        rv = self._next_rv()
        final = {**old, "metadata": {**meta(old), "resourceVersion": str(rv)}}
        self._emit(WatchEvent(rv, "DELETED", resource, final, previous or old))
        self._gc.removed(key, old)
        if resource == NAMESPACES:
            self._empty_namespace(name)
        return final

    def _empty_namespace(self, namespace: str) -> None:
        for resource, by_namespace in list(self._objects.items()):
            for name in list(by_namespace.get(namespace, {})):
                if self.get(resource, namespace, name) is not None:
                    self._remove(resource, namespace, name)

    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        if len(self._history) > 2 * self._history_limit:
            dropped = len(self._history) - self._history_limit
            self._floor = self._history[dropped - 1].rv
            del self._history[:dropped]
        for listener in list(self._listeners):
            listener(event)


def _owner_uids(obj: dict[str, Any]) -> list[str]:
    refs = meta(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [r["uid"] for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)]
