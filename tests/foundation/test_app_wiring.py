"""The operator's wiring of helm's release records to HelmReleases.

Covers: a changed release record updates the release index and wakes the HelmRelease
named by its owner labels, also when those labels hold names shortened to fit a label
(a name over 63 characters); a record whose owner is not a known HelmRelease wakes
nothing; a deleted record leaves the index.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller import api
from controller.app import owners, release_records
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.releases import ReleaseIndex

LONG_NAME = "a-helmrelease-with-a-name-much-longer-than-any-label-value-can-hold-" + "x" * 40


def helmrelease_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(api.GROUP, namespace, name)


def record(owner_namespace: str, owner: str, revision: int = 1) -> dict[str, Any]:
    """The metadata of helm's release Secret for a release installed by the operator."""
    labels = {
        "owner": "helm",
        "name": "release",
        "status": "deployed",
        "version": str(revision),
        **api.owner_labels(owner_namespace, owner),
    }
    name = f"sh.helm.release.v1.release.v{revision}"
    metadata = {"name": name, "namespace": "apps", "labels": labels, "resourceVersion": "1"}
    return {"metadata": metadata}


def cached(*keys: ObjectKey) -> Cache:
    releases = Cache()
    releases.replace((key, {"metadata": {"resourceVersion": "1"}}) for key in keys)
    return releases


@pytest.mark.parametrize("name", ["web", LONG_NAME])
def test_a_changed_record_updates_the_index_and_wakes_its_owner(name: str) -> None:
    owner = helmrelease_key("apps", name)
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(index, cached(owner, helmrelease_key("apps", "other")), woken.append)
    secret = record("apps", name)
    records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == [owner]
    latest = index.latest(ReleaseKey("apps", "release"))
    assert latest is not None
    assert latest.revision == 1


def test_a_record_of_an_unknown_helmrelease_wakes_nothing() -> None:
    index = ReleaseIndex()
    woken: list[ObjectKey] = []
    records = release_records(index, cached(helmrelease_key("apps", "web")), woken.append)
    for number, name in enumerate(("gone", LONG_NAME), start=1):
        secret = record("apps", name, revision=number)
        records.put(ObjectKey("", "apps", secret["metadata"]["name"]), secret)
    assert woken == []


def test_a_deleted_record_leaves_the_index() -> None:
    index = ReleaseIndex()
    records = release_records(index, cached(), lambda key: None)
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
    labels = api.owner_labels("apps", LONG_NAME)
    namespace, name = labels[api.OWNER_NAMESPACE_LABEL], labels[api.OWNER_NAME_LABEL]
    assert name != LONG_NAME
    assert owners(releases, namespace, name) == [long_key]
