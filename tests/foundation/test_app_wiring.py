"""The operator's wiring of watch events to wakes of HelmReleases.

Covers: a changed release record updates the release index and wakes the HelmRelease
named by its owner labels, also when those labels hold names shortened to fit a label
(a name over 63 characters); a record whose owner is not a known HelmRelease wakes
nothing; a record changed while a reconcile holds its release (our own helm's) updates
the index but wakes nothing, and so does one a reconcile awaits (our helm's final record,
arriving after helm exited); a deleted record leaves the index. A HelmRelease wakes
when what the user declared changes (spec, labels, other finalizers, deletion, our
finalizer removed), not for its status nor for our finalizer being added.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controller import api
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.releases import ReleaseIndex
from controller.wakes import owners, release_records, wake_on_change_of_intent
from testkit import wait_for

LONG_NAME = "a-helmrelease-with-a-name-much-longer-than-any-label-value-can-hold-" + "x" * 40


def helmrelease_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(api.V1BETA1.group, namespace, name)


def record(owner_namespace: str, owner: str, revision: int = 1) -> dict[str, Any]:
    """The metadata of helm's release Secret for a release installed by the operator."""
    labels = {
        "owner": "helm",
        "name": "release",
        "status": "deployed",
        "version": str(revision),
        **api.owner_labels(api.V1BETA1.group, owner_namespace, owner),
    }
    name = f"sh.helm.release.v1.release.v{revision}"
    metadata = {"name": name, "namespace": "apps", "labels": labels, "resourceVersion": "1"}
    return {"metadata": metadata}


def none_held(release: ReleaseKey) -> bool:
    return False


def cached(*keys: ObjectKey) -> Cache:
    releases = Cache()
    releases.replace(
        api.V1BETA1.group, ((key, {"metadata": {"resourceVersion": "1"}}) for key in keys)
    )
    return releases


@pytest.mark.parametrize("name", ["web", LONG_NAME])
def test_a_changed_record_updates_the_index_and_wakes_its_owner(name: str) -> None:
    owner = helmrelease_key("apps", name)
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(
        index, cached(owner, helmrelease_key("apps", "other")), woken.append, none_held
    )
    secret = record("apps", name)
    records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == [owner]
    latest = index.latest(ReleaseKey("apps", "release"))
    assert latest is not None
    assert latest.revision == 1


def test_a_record_of_an_unknown_helmrelease_wakes_nothing() -> None:
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(
        index, cached(helmrelease_key("apps", "web")), woken.append, none_held
    )
    for number, name in enumerate(("gone", LONG_NAME), start=1):
        secret = record("apps", name, revision=number)
        records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == []


def test_a_deleted_record_leaves_the_index() -> None:
    index = ReleaseIndex()
    records = release_records(index, cached(), lambda key: None, none_held)
    secret = record("apps", "web")
    key = ObjectKey("", "apps", secret["metadata"]["name"])
    records.put(key, secret)
    records.delete(key)
    assert index.latest(ReleaseKey("apps", "release")) is None


def test_shortened_owner_labels_map_back_only_to_the_names_they_shorten() -> None:
    long_key = helmrelease_key("apps", LONG_NAME)
    similar = helmrelease_key("apps", LONG_NAME[:-1] + "y")  # same 50-char prefix
    elsewhere = helmrelease_key("other", LONG_NAME)
    releases = cached(long_key, similar, elsewhere)
    labels = api.owner_labels(api.V1BETA1.group, "apps", LONG_NAME)
    assert labels[api.OWNER_NAME_LABEL] != LONG_NAME
    assert owners(releases, labels) == [long_key]
    v1_key = ObjectKey(api.V1.group, "apps", LONG_NAME)
    assert owners(cached(v1_key, long_key), api.owner_labels(api.V1.group, "apps", LONG_NAME)) == [
        v1_key
    ]


def test_a_record_written_while_our_helm_runs_on_its_release_wakes_nothing() -> None:
    owner = helmrelease_key("apps", "web")
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    held = {ReleaseKey("apps", "release")}
    records = release_records(index, cached(owner), woken.append, held.__contains__)
    secret = record("apps", "web")
    records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == []
    latest = index.latest(ReleaseKey("apps", "release"))
    assert latest is not None
    assert latest.revision == 1


async def test_a_record_our_reconcile_awaits_wakes_nothing() -> None:
    """Our helm's final record, arriving after helm exited while the reconcile that ran
    it waits for it: handed to that reconcile, not a change to look at again."""
    owner = helmrelease_key("apps", "web")
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(index, cached(owner), woken.append, none_held)
    release = ReleaseKey("apps", "release")
    awaited = asyncio.create_task(
        index.until(release, lambda latest: latest is not None and latest.revision == 2, 600)
    )
    await wait_for(lambda: release in index._waiting, what="the reconcile to wait")
    first = record("apps", "web")
    records.put(ObjectKey("", "apps", first["metadata"]["name"]), first)
    assert woken == [owner]  # not the awaited one: a change
    second = record("apps", "web", revision=2)
    records.put(ObjectKey("", "apps", second["metadata"]["name"]), second)
    assert woken == [owner]
    handed = await awaited
    assert handed is not None
    assert handed.revision == 2


def helmrelease(version: int, generation: int = 1, **metadata: Any) -> dict[str, Any]:
    body = {"name": "web", "namespace": "apps", "resourceVersion": str(version)}
    return {"metadata": {**body, "generation": generation, **metadata}, "status": {}}


def test_only_changes_of_declared_intent_wake_a_helmrelease() -> None:
    key = helmrelease_key("apps", "web")
    releases = Cache()
    woken: list[int] = []
    releases.set_on_change(wake_on_change_of_intent(releases, lambda _: woken.append(version)))
    steps: list[tuple[dict[str, Any], bool]] = [
        (helmrelease(1), True),  # first seen
        ({**helmrelease(2), "status": {"phase": "Succeeded"}}, False),  # our status write
        (helmrelease(3, finalizers=[api.FINALIZER]), False),  # our finalizer added
        (helmrelease(4, generation=2, finalizers=[api.FINALIZER]), True),  # spec changed
        (helmrelease(5, generation=2, finalizers=[api.FINALIZER, "other"]), True),
        (helmrelease(6, generation=2, finalizers=["other"]), True),  # ours removed
        (helmrelease(7, generation=2, finalizers=["other"], labels={"a": "b"}), True),
        (helmrelease(8, generation=2, finalizers=["other"], labels={"a": "b"}), False),
    ]
    for version, (obj, wakes) in enumerate(steps, start=1):
        before = len(woken)
        releases.put(key, obj)
        assert len(woken) == before + wakes, f"step {version}"
    releases.delete(key)
    assert woken[-1] == len(steps)


def test_a_record_with_nothing_new_wakes_nobody() -> None:
    """Our helm's last write arriving after the reconcile that ran it (the status already
    records that revision in that state), and an older revision's bookkeeping (superseded
    when the next one was deployed) wake nobody; a revision the status does not know does."""
    owner = helmrelease_key("apps", "web")
    releases = Cache()
    status = {"lastReleaseRevision": 2, "releaseStatus": "deployed"}
    releases.put(owner, {"metadata": {"resourceVersion": "1"}, "status": status})
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(index, releases, woken.append, none_held)
    records.replace("", [])  # listed: what follows are changes
    for revision, state in ((2, "deployed"), (1, "superseded"), (3, "deployed")):
        secret = record("apps", "web", revision)
        secret["metadata"]["labels"]["status"] = state
        records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == [owner]  # only revision 3, a manual upgrade or rollback
