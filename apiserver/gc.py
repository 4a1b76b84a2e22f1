"""Garbage collection by ownerReferences: the API server's deletion finalizers and the
controller-manager's garbage collector.

A DELETE decides, as the real registry does (``deletionFinalizersForGarbageCollection``),
which of the two garbage-collector finalizers the object gets: ``orphan`` when its dependents
are to be orphaned, ``foregroundDeletion`` when they are to go first. The options say it
(``propagationPolicy``, or the older ``orphanDependents``), else a finalizer already on the
object, else the resource's default policy (``default_policy``: batch/v1 Jobs orphan, Events
take no part). An object left with finalizers is only marked (``deletionTimestamp``); one
without is removed at once (Background: its dependents go after it).

``GarbageCollector`` then plays the garbage collector, run by the store after each write, in
the same event-loop step and in the order a real one would act (so a watcher sees the owner's
change before its dependents'): a dependent whose owners are all gone is deleted (with the
policy its own finalizers ask for); one that keeps a live owner only loses the references to
the gone ones; an owner in foreground deletion has its dependents deleted (those that have
dependents of their own in the foreground too) and loses ``foregroundDeletion`` once no
dependent with ``blockOwnerDeletion: true`` is left; an owner with ``orphan`` has the
references to it removed from its dependents, then loses ``orphan``. An owner reference
matches by uid, and the owner must also have the name and kind it names and, when it is
namespaced, live in the dependent's namespace; a cluster-scoped dependent of a namespaced owner
is never collected, as on a real cluster. A dependent that is itself being deleted (a finalizer
of someone else's holds it) still blocks its owner until it is gone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .resources import BUILTIN_TYPES, CRDS

if TYPE_CHECKING:
    from .store import ObjectKey, Store

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
FOREGROUND, BACKGROUND, ORPHAN = "Foreground", "Background", "Orphan"
POLICIES = (FOREGROUND, BACKGROUND, ORPHAN)

ORPHAN_DEPENDENTS = "OrphanDependents"
DELETE_DEPENDENTS = "DeleteDependents"
UNSUPPORTED = "Unsupported"
"""A resource's default garbage-collection policy (``rest.GarbageCollectionPolicy``); "" for
the resources whose registry names none (they delete dependents in the background)."""

_ATTEMPT, _ORPHAN = "attempt", "orphan"


@dataclass(frozen=True)
class Propagation:
    """How a DELETE propagates to dependents: its options and the resource's default."""

    policy: str | None = None
    """``propagationPolicy`` (Foreground, Background or Orphan), None when not given."""
    orphan_dependents: bool | None = None
    """The older ``orphanDependents`` option, None when not given."""
    default: str = ""
    """The resource's default policy (``default_policy``)."""

    def finalizers(self, current: list[str]) -> list[str] | None:
        """The object's finalizers once this deletion has set the garbage collector's own
        (``deletionFinalizersForGarbageCollection``); None when they stay as they are."""
        orphan, foreground = self._orphans(current), self._foreground(current)
        kept = [f for f in current if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
        wanted = kept + [ORPHAN_FINALIZER] * orphan + [FOREGROUND_FINALIZER] * foreground
        return None if set(wanted) == set(current) else wanted

    def _orphans(self, current: list[str]) -> bool:
        """shouldOrphanDependents."""
        if self.default == UNSUPPORTED:
            return False
        if self.orphan_dependents is not None:
            return self.orphan_dependents
        if self.policy is not None:
            return self.policy == ORPHAN
        for finalizer in current:
            if finalizer in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER):
                return finalizer == ORPHAN_FINALIZER
        return self.default == ORPHAN_DEPENDENTS

    def _foreground(self, current: list[str]) -> bool:
        """shouldDeleteDependents."""
        if self.default == UNSUPPORTED or self.orphan_dependents is not None:
            return False
        if self.policy is not None:
            return self.policy == FOREGROUND
        for finalizer in current:
            if finalizer in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER):
                return finalizer == FOREGROUND_FINALIZER
        return False


BACKGROUND_DELETION = Propagation(BACKGROUND)


def default_policy(group: str, version: str, plural: str) -> str:
    """A resource's default garbage-collection policy, as its registry strategy names it.

    batch/v1 Jobs orphan their pods unless told otherwise (kept for compatibility); Events
    (core and events.k8s.io, one storage) take no part in garbage collection; apps/v1 and
    CronJobs delete their dependents; any other resource names no policy, which deletes
    dependents in the background too.
    """
    if (group, version, plural) == ("batch", "v1", "jobs"):
        return ORPHAN_DEPENDENTS
    if plural == "events" and group in ("", "events.k8s.io"):
        return UNSUPPORTED
    if group == "apps" or (group, plural) == ("batch", "cronjobs"):
        return DELETE_DEPENDENTS
    return ""


JOB_DELETE_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background"
    " to remove them or set propagationPolicy=Orphan to suppress this warning"
)
"""The warning a DELETE of Jobs that leaves the propagation to the batch/v1 default gets."""


def delete_warnings(propagation: Propagation) -> list[str]:
    """The warnings a DELETE with these options gets (the Job registry's)."""
    if (
        propagation.policy is None
        and propagation.orphan_dependents is None
        and propagation.default == ORPHAN_DEPENDENTS
    ):
        return [JOB_DELETE_WARNING]
    return []


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def owner_references(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The well-formed owner references of an object (a dict with a string uid each)."""
    if obj is None:
        return []
    refs = _meta(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return []
    return [r for r in refs if isinstance(r, dict) and isinstance(r.get("uid"), str)]


def _finalizers(obj: dict[str, Any]) -> list[str]:
    value = _meta(obj).get("finalizers")
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def deleting_dependents(obj: dict[str, Any]) -> bool:
    """Whether an object is in foreground deletion (waiting for its blocking dependents)."""
    return bool(_meta(obj).get("deletionTimestamp")) and FOREGROUND_FINALIZER in _finalizers(obj)


def _orphaning(obj: dict[str, Any] | None) -> bool:
    if obj is None:
        return False
    return bool(_meta(obj).get("deletionTimestamp")) and ORPHAN_FINALIZER in _finalizers(obj)


def _blocking_uids(obj: dict[str, Any] | None) -> set[str]:
    return {r["uid"] for r in owner_references(obj) if r.get("blockOwnerDeletion") is True}


def _group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.rpartition("/")[0]


class _Unresolvable:
    """A reference the garbage collector can never resolve (a cluster-scoped dependent of a
    namespaced owner): the dependent is left alone."""


_UNRESOLVABLE = _Unresolvable()


class GarbageCollector:
    """The garbage collector of one store, fed by the store's writes (``changed``,
    ``removed``) and run by the store once each write is done (``run``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: deque[tuple[str, ObjectKey]] = deque()
        self._queued: set[tuple[str, ObjectKey]] = set()
        self._running = False

    # -- what the store tells ------------------------------------------------------------

    def changed(self, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        """An object was stored (created when ``old`` is None): queue what it calls for."""
        metadata = new["metadata"]
        old_metadata = old["metadata"] if old is not None else {}
        if "ownerReferences" in metadata or "ownerReferences" in old_metadata:
            self._references_changed(key, old, new)
        if "deletionTimestamp" not in metadata:
            return
        if _orphaning(new) and not _orphaning(old):
            self._enqueue(_ORPHAN, key)
        elif deleting_dependents(new) and not (old is not None and deleting_dependents(old)):
            for dependent in self._store.dependents(str(metadata.get("uid", ""))):
                self._enqueue(_ATTEMPT, dependent)
            self._enqueue(_ATTEMPT, key)

    def _references_changed(
        self, key: ObjectKey, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> None:
        new_refs = owner_references(new)
        if new_refs == owner_references(old):
            return
        if new_refs:
            self._enqueue(_ATTEMPT, key)  # its owners may be gone, or waiting for it
        for uid in sorted(_blocking_uids(old) - _blocking_uids(new)):
            self._recheck_owner(uid)  # one dependent less blocks that owner

    def removed(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """An object is gone: its dependents may have no owner left, and an owner in
        foreground deletion may have no blocking dependent left."""
        for dependent in self._store.dependents(str(_meta(obj).get("uid", ""))):
            self._enqueue(_ATTEMPT, dependent)
        for ref in owner_references(obj):
            self._recheck_owner(ref["uid"])

    def run(self) -> None:
        """Do all the queued work, and the work it leads to (nested calls return at once)."""
        if self._running or not self._queue:
            return
        self._running = True
        try:
            while self._queue:
                item = self._queue.popleft()
                self._queued.discard(item)
                operation, key = item
                try:
                    if operation == _ATTEMPT:
                        self._attempt_to_delete(key)
                    else:
                        self._orphan_dependents(key)
                except errors.ApiError:
                    continue  # the object changed under the collector: its next write requeues
        finally:
            self._running = False

    # -- the work ------------------------------------------------------------------------

    def _enqueue(self, operation: str, key: ObjectKey) -> None:
        item = (operation, key)
        if item not in self._queued:
            self._queued.add(item)
            self._queue.append(item)

    def _recheck_owner(self, uid: str) -> None:
        key = self._store.key_of(uid)
        if key is None:
            return
        entry = self._store.get(*key)
        if entry is not None and deleting_dependents(entry.obj):
            self._enqueue(_ATTEMPT, key)

    def _namespaced(self, group: str, kind: Any) -> bool | None:
        """Whether a kind is namespaced, as the RESTMapper says: built-in kinds from their
        table, custom ones from their CRD; None for a kind the server does not serve."""
        for resource_type in BUILTIN_TYPES:
            if (resource_type.group, resource_type.kind) == (group, kind):
                return resource_type.namespaced
        for crd in self._store.objects(CRDS, None):
            spec = crd.get("spec")
            if isinstance(spec, dict) and spec.get("group") == group:
                names = spec.get("names")
                if isinstance(names, dict) and names.get("kind") == kind:
                    return spec.get("scope") == "Namespaced"
        return None

    def _owner(self, ref: dict[str, Any], dependent: ObjectKey) -> Any:
        """The live owner a reference names, None when it is absent (dangling), or
        ``_UNRESOLVABLE``."""
        if not dependent[1] and self._namespaced(_group(ref.get("apiVersion")), ref.get("kind")):
            return _UNRESOLVABLE
        key = self._store.key_of(ref["uid"])
        if key is None:
            return None
        _, namespace, name = key
        if namespace and namespace != dependent[1]:
            return None  # a namespaced owner is looked for in the dependent's namespace
        entry = self._store.get(*key)
        if entry is None:
            return None
        owner = entry.obj
        if name != ref.get("name") or owner.get("kind") != ref.get("kind"):
            return None
        if _group(owner.get("apiVersion")) != _group(ref.get("apiVersion")):
            return None
        return owner

    def _attempt_to_delete(self, key: ObjectKey) -> None:
        """attemptToDeleteItem: collect a dependent whose owners are gone."""
        entry = self._store.get(*key)
        if entry is None:
            return
        obj = entry.obj
        metadata = _meta(obj)
        if metadata.get("deletionTimestamp"):
            if deleting_dependents(obj):
                self._finish_foreground(key, obj)
            return
        refs = owner_references(obj)
        if not refs:
            return
        solid, gone, waiting = [], [], []
        for ref in refs:
            owner = self._owner(ref, key)
            if owner is _UNRESOLVABLE:
                return
            if owner is None:
                gone.append(ref)
            elif deleting_dependents(owner):
                waiting.append(ref)
            else:
                solid.append(ref)
        uid = str(metadata.get("uid", ""))
        if solid:
            if gone or waiting:
                dropped = {r["uid"] for r in gone + waiting}
                self._set_references(key, obj, [r for r in refs if r["uid"] not in dropped])
            return
        dependents = self._store.dependents(uid)
        if waiting and dependents:
            if any(self._is_deleting_dependents(d) for d in dependents):
                # a cycle: stop blocking the owners, so that each can go
                unblocked = [
                    {**r, "blockOwnerDeletion": False} if r.get("blockOwnerDeletion") else r
                    for r in refs
                ]
                self._set_references(key, obj, unblocked)
            self._store.delete(*key, propagation=Propagation(FOREGROUND), precondition_uid=uid)
            return
        finalizers = _finalizers(obj)
        if ORPHAN_FINALIZER in finalizers:
            policy = ORPHAN
        elif FOREGROUND_FINALIZER in finalizers:
            policy = FOREGROUND
        else:
            policy = BACKGROUND
        self._store.delete(*key, propagation=Propagation(policy), precondition_uid=uid)

    def _is_deleting_dependents(self, key: ObjectKey) -> bool:
        entry = self._store.get(*key)
        return entry is not None and deleting_dependents(entry.obj)

    def _finish_foreground(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """processDeletingDependentsItem: drop ``foregroundDeletion`` once no dependent blocks
        the owner, else have the blocking ones deleted."""
        uid = str(_meta(obj).get("uid", ""))
        blocking = []
        for dependent in self._store.dependents(uid):
            entry = self._store.get(*dependent)
            if entry is not None and uid in _blocking_uids(entry.obj):
                blocking.append(dependent)
        if not blocking:
            self._drop_finalizer(key, obj, FOREGROUND_FINALIZER)
            return
        for dependent in blocking:
            if not self._is_deleting_dependents(dependent):
                self._enqueue(_ATTEMPT, dependent)

    def _orphan_dependents(self, key: ObjectKey) -> None:
        """attemptToOrphan: take the references to the owner off its dependents, then drop
        ``orphan`` from the owner."""
        entry = self._store.get(*key)
        if entry is None or not _orphaning(entry.obj):
            return
        uid = str(_meta(entry.obj).get("uid", ""))
        for dependent in self._store.dependents(uid):
            found = self._store.get(*dependent)
            if found is None:
                continue
            refs = owner_references(found.obj)
            self._set_references(dependent, found.obj, [r for r in refs if r["uid"] != uid])
        entry = self._store.get(*key)
        if entry is not None:
            self._drop_finalizer(key, entry.obj, ORPHAN_FINALIZER)

    # -- writes --------------------------------------------------------------------------

    def _set_references(
        self, key: ObjectKey, obj: dict[str, Any], refs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        metadata = {k: v for k, v in _meta(obj).items() if k != "ownerReferences"}
        if refs:
            metadata["ownerReferences"] = refs
        entry = self._store.get(*key)
        managed = entry.managed if entry is not None else {}
        return self._store.update(key[0], {**obj, "metadata": metadata}, managed)

    def _drop_finalizer(self, key: ObjectKey, obj: dict[str, Any], finalizer: str) -> None:
        metadata = dict(_meta(obj))
        remaining = [f for f in _finalizers(obj) if f != finalizer]
        if remaining:
            metadata["finalizers"] = remaining
        else:
            metadata.pop("finalizers", None)
        entry = self._store.get(*key)
        managed = entry.managed if entry is not None else {}
        self._store.update(key[0], {**obj, "metadata": metadata}, managed)
