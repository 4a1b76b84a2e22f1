"""What wakes a HelmRelease: a change of what its user declared, of its Helm release, or
of a ConfigMap or Secret it reads values from.

Watch events arrive as cache changes (keys); these rules turn them into wakes of
HelmRelease keys for the work queue, and keep the release and source indexes current.
Each rule takes two wakes: ``wake`` for a change of intent, which the queue serves ahead
of bulk work, and ``bulk`` for the other wakes: an object seen for the first time (a
HelmRelease listed at start or created, a release record or values source in its cache's
first list), or a release record most likely written by our own reconcile. A thousand
HelmReleases listed at once must not stand in front of one user's edit. ``bulk``
defaults to ``wake``.
They read
two formats defined elsewhere: the HelmRelease's metadata and our finalizer
(``controller.api``), and the owner labels on helm's release records
(``controller.api.owner_labels``, values shortened by ``controller.api.label_value``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from controller import api
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.reconcile.dependencies import ready as dependency_ready
from controller.releases import ObservedRelease, ReleaseIndex, observe

Wake = Callable[[ObjectKey], None]
"""Puts a HelmRelease's key in the work queue (in one of its lanes)."""


def wake_on_change_of_intent(
    cache: Cache, wake: Wake, bulk: Wake | None = None
) -> Callable[[ObjectKey], None]:
    """A cache callback that wakes a HelmRelease only when what the user declared changed
    (``wake``), or when it is first seen (``bulk``).

    The operator's own status writes come back through the watch; waking on them would
    make every failed attempt retry at once, defeating the backoff. Spec changes bump
    ``generation``; labels, annotations, finalizers and deletion are compared too.
    Our finalizer appearing wakes nothing: only a reconcile adds it, and that reconcile
    goes on (a wake would only repeat it). Our finalizer removed by someone else wakes
    the HelmRelease, so that it is put back.
    """
    seen: dict[ObjectKey, tuple[str, bool]] = {}

    def changed(key: ObjectKey) -> None:
        obj = cache.get(key)
        if obj is None:
            seen.pop(key, None)
            wake(key)
            return
        intent, ours = _intent(obj)
        before = seen.get(key)
        seen[key] = (intent, ours)
        if before is None:
            (bulk or wake)(key)
        elif before[0] != intent or (before[1] and not ours):
            wake(key)

    return changed


def _intent(obj: dict[str, Any]) -> tuple[str, bool]:
    """A digest of what the user declared (our finalizer left out), and whether it is there."""
    metadata = obj.get("metadata", {})
    declared = {
        name: metadata.get(name)
        for name in ("generation", "labels", "annotations", "deletionTimestamp")
    }
    finalizers = metadata.get("finalizers")
    ours = isinstance(finalizers, list) and api.FINALIZER in finalizers
    if isinstance(finalizers, list):
        finalizers = [name for name in finalizers if name != api.FINALIZER] or None
    declared["finalizers"] = finalizers
    digest = hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()
    return digest, ours


def wake_dependants(
    cache: Cache, wake: Wake, bulk: Wake | None = None
) -> Callable[[ObjectKey], None]:
    """A cache callback that wakes the HelmReleases depending on one (``spec.dependsOn``)
    at once, rather than at their next resync, when it goes away, becomes Ready or not, or
    names other dependencies (a cycle may have closed): ``wake``; or when it appears
    (``bulk``). It keeps the index from a HelmRelease to those that depend on it
    from the cache itself."""
    dependants: dict[ObjectKey, set[ObjectKey]] = {}
    seen: dict[ObjectKey, tuple[bool, tuple[ObjectKey, ...]]] = {}

    def changed(key: ObjectKey) -> None:
        obj = cache.get(key)
        before = seen.pop(key, None)
        for dependency in before[1] if before else ():
            dependants.get(dependency, set()).discard(key)
        if obj is not None:
            named = tuple(
                ObjectKey(key.group, namespace, name)
                for namespace, name in api.dependencies_of(obj)
            )
            for dependency in named:
                dependants.setdefault(dependency, set()).add(key)
            seen[key] = (dependency_ready(obj), named)
        if seen.get(key) != before:
            wake_one = (bulk or wake) if before is None else wake
            for dependant in sorted(dependants.get(key, ()), key=str):
                wake_one(dependant)

    return changed


def release_records(
    index: ReleaseIndex,
    releases: Cache,
    wake: Wake,
    in_flight: Callable[[ReleaseKey], bool],
    bulk: Wake | None = None,
    reconciling: Callable[[ObjectKey], bool] | None = None,
) -> Cache:
    """A cache of helm's release Secrets whose changes keep ``index`` current.

    A changed record also wakes its owning HelmRelease (one of ``releases``), so a
    manual ``helm rollback`` is noticed at once rather than at the next resync. Not
    while our own helm runs on that release (``in_flight``): the records written then
    are its own, which the reconcile reads itself once helm exits; a wake would only
    repeat it. A reconcile that holds the release without running helm (it looks, or
    decides to wait for someone else's helm) is woken: the change is not its own.
    The records of the cache's first list are no change, and neither, most likely, is a
    record changed while its owner is being reconciled (``reconciling``): our helm's last
    write often arrives just after helm exited. Both wake the owner as ``bulk``: it is
    looked at again, without going ahead of bulk work. Nothing new wakes nobody: an older
    revision's bookkeeping (superseded, pruned), or the latest revision as the owner's status
    already records it (our helm's last write, arriving after the reconcile that ran it).
    """
    records = Cache(synced=index.listed)

    def changed(key: ObjectKey) -> None:
        secret = records.get(key)
        if secret is None:
            index.apply("DELETED", {"metadata": {"namespace": key.namespace, "name": key.name}})
            return
        if index.apply("MODIFIED", secret):
            return  # the final record of our helm, awaited by the reconcile that ran it
        labels = secret.get("metadata", {}).get("labels", {})
        observed = observe(secret)
        if observed is None or in_flight(observed.key):
            return
        latest = index.latest(observed.key)
        if latest is not None and latest.revision > observed.revision:
            return  # an older revision's bookkeeping: nothing new
        listing = not records.synced.is_set()
        for owner in owners(releases, labels):
            if _recorded(releases.get(owner), observed):
                continue
            if listing or (reconciling is not None and reconciling(owner)):
                (bulk or wake)(owner)
            else:
                wake(owner)

    records.set_on_change(changed)
    return records


def _recorded(owner: Mapping[str, Any] | None, observed: ObservedRelease) -> bool:
    """Whether the owner's status already records this revision in this state."""
    status = owner.get("status") if owner is not None else None
    if not isinstance(status, Mapping):
        return False
    return (status.get("lastReleaseRevision"), status.get("releaseStatus")) == (
        observed.revision,
        observed.status,
    )


def owners(releases: Cache, labels: Mapping[str, Any]) -> list[ObjectKey]:
    """The cached HelmReleases a release record's owner labels name (none without them).

    Owner labels hold names shortened to fit a label (``api.label_value``); a value that
    may be a shortened one is matched by shortening the cached names the same way.
    """
    namespace_label, name_label = (
        labels.get(api.OWNER_NAMESPACE_LABEL),
        labels.get(api.OWNER_NAME_LABEL),
    )
    if not isinstance(namespace_label, str) or not isinstance(name_label, str):
        return []
    group = api.owner_group(labels)
    exact = ObjectKey(group, namespace_label, name_label)
    if exact in releases:
        return [exact]
    if not api.may_be_shortened(name_label):
        return []
    return [
        key
        for key in releases
        if key.group == group
        and api.label_value(key.name) == name_label
        and api.label_value(key.namespace) == namespace_label
    ]


SourceRef = tuple[api.SourceKind, ObjectKey]
"""A ConfigMap or Secret read by ``spec.valuesFrom``: its kind and its key in the cache."""

WATCHED_SOURCES = (api.SourceKind.CONFIG_MAP, api.SourceKind.SECRET)


def references(obj: Mapping[str, Any]) -> frozenset[SourceRef]:
    """The ConfigMaps and Secrets a HelmRelease reads values from (none when invalid)."""
    declared = obj.get("spec")
    if not isinstance(declared, Mapping) or not any(
        declared.get(field) for field in api.VALUES_SOURCE_FIELDS
    ):
        return frozenset()  # the common case, told without parsing the whole spec
    spec = api.parse(obj)
    if isinstance(spec, api.SpecError):
        return frozenset()
    return frozenset(
        (source.kind, ObjectKey("", source.namespace or spec.namespace, source.name))
        for source in spec.values_from
        if source.kind in WATCHED_SOURCES
    )


class SourceIndex:
    """Which HelmReleases read which ConfigMaps and Secrets, both ways."""

    def __init__(self) -> None:
        self._owners: dict[SourceRef, set[ObjectKey]] = {}
        self._references: dict[ObjectKey, frozenset[SourceRef]] = {}

    def update(self, release: ObjectKey, refs: frozenset[SourceRef]) -> list[SourceRef]:
        """``release`` now reads ``refs`` (none: deleted); the sources nobody reads any more."""
        before = self._references.pop(release, frozenset())
        if refs:
            self._references[release] = refs
        for ref in refs - before:
            self._owners.setdefault(ref, set()).add(release)
        dropped = []
        for ref in before - refs:
            owners = self._owners[ref]
            owners.discard(release)
            if not owners:
                del self._owners[ref]
                dropped.append(ref)
        return dropped

    def owners(self, kind: api.SourceKind, source: ObjectKey) -> list[ObjectKey]:
        """The HelmReleases that read the source, in key order."""
        return sorted(self._owners.get((kind, source), ()))

    def referenced(self, kind: api.SourceKind, source: ObjectKey) -> bool:
        return (kind, source) in self._owners

    def references(self, release: ObjectKey) -> frozenset[SourceRef]:
        return self._references.get(release, frozenset())


def track_sources(
    index: SourceIndex, releases: Cache, sources: Mapping[api.SourceKind, Cache]
) -> Callable[[ObjectKey], None]:
    """A HelmRelease cache callback that keeps ``index`` current from each changed one.

    A source nobody reads any more is forgotten by its cache (``sources``, by kind) at
    once. One that becomes read needs nothing: the reconcile reads it from the API, and
    its next change arrives as a watch event that the cache now keeps.
    """

    def changed(key: ObjectKey) -> None:
        obj = releases.get(key)
        for kind, source in index.update(key, frozenset() if obj is None else references(obj)):
            if (cache := sources.get(kind)) is not None:
                cache.forget(source)

    return changed


def values_sources(
    index: SourceIndex, kind: api.SourceKind, wake: Wake, bulk: Wake | None = None
) -> Cache:
    """A cache of the ConfigMaps or Secrets (``kind``) some HelmRelease reads values from.

    It keeps only those (``index``), metadata alone: memory follows the references, not
    the cluster's objects. A kept one that changes (added, edited, deleted) wakes every
    HelmRelease that reads it; during the cache's first list, as ``bulk``.
    """
    sources = Cache(keep=lambda key: index.referenced(kind, key))

    def changed(key: ObjectKey) -> None:
        woken = wake if sources.synced.is_set() else bulk or wake
        for owner in index.owners(kind, key):
            woken(owner)

    sources.set_on_change(changed)
    return sources


def identity(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a source cache holds of an object: who it is and its version, no payload."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return {"metadata": {}}
    kept = ("name", "namespace", "resourceVersion")
    return {"metadata": {key: metadata[key] for key in kept if key in metadata}}


def wake_on_chart_fetched(releases: Cache, wake: Wake) -> Callable[[api.ChartSpec], None]:
    """Told when a chart fetch that reconciles stopped waiting for has ended: wakes the
    HelmReleases that ask for that chart, so that they go on at once instead of at their
    next look (they are Reconciling, FetchingChart, meanwhile)."""

    def fetched(chart: api.ChartSpec) -> None:
        for key in list(releases):
            obj = releases.get(key)
            asked = obj.get("spec", {}).get("chart") if obj is not None else None
            if not isinstance(asked, Mapping) or asked.get("name") != chart.name:
                continue  # parsed only when the name matches: few are
            spec = api.parse(obj) if obj is not None else None
            if isinstance(spec, api.ReleaseSpec) and _same_chart(spec.chart, chart):
                wake(key)

    return fetched


def _same_chart(asked: api.ChartSpec | api.GitChartSpec, fetched: api.ChartSpec) -> bool:
    return isinstance(asked, api.ChartSpec) and (asked.repository, asked.name, asked.version) == (
        fetched.repository,
        fetched.name,
        fetched.version,
    )


def each(callbacks: Iterable[Callable[[ObjectKey], None]]) -> Callable[[ObjectKey], None]:
    """One cache callback calling every one of ``callbacks`` in order."""
    chain = tuple(callbacks)

    def changed(key: ObjectKey) -> None:
        for callback in chain:
            callback(key)

    return changed
