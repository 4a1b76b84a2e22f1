"""Which of its two wakes each rule uses: a change of intent (``wake``, the intent lane)
or no such change (``bulk``, the bulk lane).

Covers: a HelmRelease first seen (listed or created) is bulk; a change of its spec,
labels or annotations (``reconcile.fluxcd.io/requestedAt`` too), of its other
finalizers, and its deletion are changes of intent; a dependency appearing is bulk for
its dependants, becoming Ready or going away a change; a release record or a values
source in its cache's first list is bulk, one changed after it (a manual ``helm
rollback``, an edited ConfigMap) a change of intent, unless the record's owner is being
reconciled (most likely its own helm's last write, arriving after helm exited): bulk.
A chart fetch that outlasted its reconciles' wait wakes, once it ends, the HelmReleases
asking for that very chart (repository, name, version), as bulk work.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller import api
from controller.keys import ObjectKey
from controller.kube.cache import Cache
from controller.releases import ReleaseIndex
from controller.wakes import (
    SourceIndex,
    each,
    release_records,
    track_sources,
    values_sources,
    wake_dependants,
    wake_on_change_of_intent,
    wake_on_chart_fetched,
)

GROUP = api.V1.group


class Woken:
    """The two wakes of a rule, recording which one each key came through."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def wake(self, key: ObjectKey) -> None:
        self.log.append(("intent", key.name))

    def bulk(self, key: ObjectKey) -> None:
        self.log.append(("bulk", key.name))

    def take(self) -> list[tuple[str, str]]:
        taken, self.log = self.log, []
        return taken


def helmrelease(
    name: str,
    version: int,
    *,
    generation: int = 1,
    depends: tuple[str, ...] = (),
    ready: bool = False,
    values_from: tuple[str, ...] = (),
    **metadata: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": api.V1.api_version,
        "kind": "HelmRelease",
        "metadata": {
            "namespace": "apps",
            "name": name,
            "generation": generation,
            "resourceVersion": str(version),
            **metadata,
        },
        "spec": {
            "chart": {"repository": "https://charts.example.com/", "name": "app", "version": "1"},
            "dependsOn": [{"name": n} for n in depends],
            "valuesFrom": [{"configMapKeyRef": {"name": n}} for n in values_from],
        },
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "observedGeneration": 1}
            ]
        },
    }


def hr_key(name: str) -> ObjectKey:
    return ObjectKey(GROUP, "apps", name)


REQUESTED = {"reconcile.fluxcd.io/requestedAt": "2024-05-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("change", "lane"),
    [
        (helmrelease("web", 2), None),  # a status write
        (helmrelease("web", 2, generation=2), "intent"),  # spec
        (helmrelease("web", 2, labels={"team": "a"}), "intent"),
        (helmrelease("web", 2, annotations=REQUESTED), "intent"),  # the reconcile command
        (helmrelease("web", 2, finalizers=[api.FINALIZER]), None),  # ours added
        (helmrelease("web", 2, finalizers=["other"]), "intent"),
        (helmrelease("web", 2, deletionTimestamp="2024-05-01T10:00:00Z"), "intent"),
        (None, "intent"),  # deleted
    ],
)
def test_a_helmrelease_is_first_seen_then_changed(
    change: dict[str, Any] | None, lane: str | None
) -> None:
    woken = Woken()
    releases = Cache()
    releases.set_on_change(wake_on_change_of_intent(releases, woken.wake, woken.bulk))
    releases.replace(GROUP, [(hr_key("web"), helmrelease("web", 1))])  # the list at start
    assert woken.take() == [("bulk", "web")]
    if change is None:
        releases.delete(hr_key("web"))
    else:
        releases.put(hr_key("web"), change)
    assert woken.take() == ([(lane, "web")] if lane else [])
    releases.put(hr_key("new"), helmrelease("new", 3))  # created later: first seen too
    assert woken.take() == [("bulk", "new")]


def test_dependants_see_a_dependency_appear_then_change() -> None:
    woken = Woken()
    releases = Cache()
    releases.set_on_change(wake_dependants(releases, woken.wake, woken.bulk))
    releases.put(hr_key("app"), helmrelease("app", 1, depends=("db",)))
    releases.put(hr_key("db"), helmrelease("db", 2))
    assert woken.take() == [("bulk", "app")]
    releases.put(hr_key("db"), helmrelease("db", 3, ready=True))
    assert woken.take() == [("intent", "app")]
    releases.delete(hr_key("db"))
    assert woken.take() == [("intent", "app")]


def record(revision: int, version: int) -> dict[str, Any]:
    labels = {
        "owner": "helm",
        "name": "web",
        "status": "deployed",
        "version": str(revision),
        **api.owner_labels(GROUP, "apps", "web"),
    }
    name = f"sh.helm.release.v1.web.v{revision}"
    metadata = {"name": name, "namespace": "apps", "labels": labels}
    return {"metadata": {**metadata, "resourceVersion": str(version)}}


def test_release_records_listed_are_bulk_then_changes_of_intent() -> None:
    woken = Woken()
    releases = Cache()
    releases.put(hr_key("web"), helmrelease("web", 1))
    reconciling: set[ObjectKey] = set()
    records = release_records(
        ReleaseIndex(), releases, woken.wake, lambda _: False, woken.bulk, reconciling.__contains__
    )
    listed = record(1, 10)
    records.replace("", [(ObjectKey("", "apps", listed["metadata"]["name"]), listed)])
    assert woken.take() == [("bulk", "web")]
    rolled_back = record(2, 11)  # someone's `helm rollback` writes a new record
    records.put(ObjectKey("", "apps", rolled_back["metadata"]["name"]), rolled_back)
    assert woken.take() == [("intent", "web")]
    reconciling.add(hr_key("web"))
    upgraded = record(3, 12)  # arrives while web's reconcile goes on: its own helm's
    records.put(ObjectKey("", "apps", upgraded["metadata"]["name"]), upgraded)
    assert woken.take() == [("bulk", "web")]


def test_values_sources_listed_are_bulk_then_changes_of_intent() -> None:
    woken = Woken()
    index = SourceIndex()
    releases = Cache()
    sources = {
        api.SourceKind.CONFIG_MAP: values_sources(
            index, api.SourceKind.CONFIG_MAP, woken.wake, woken.bulk
        )
    }
    releases.set_on_change(each([track_sources(index, releases, sources)]))
    releases.put(hr_key("web"), helmrelease("web", 1, values_from=("env",)))
    config_map = sources[api.SourceKind.CONFIG_MAP]
    env = ObjectKey("", "apps", "env")
    config_map.replace("", [(env, {"metadata": {"name": "env", "resourceVersion": "5"}})])
    assert woken.take() == [("bulk", "web")]
    config_map.put(env, {"metadata": {"name": "env", "resourceVersion": "6"}})  # edited
    assert woken.take() == [("intent", "web")]


def test_a_late_chart_fetch_wakes_the_releases_of_that_chart() -> None:
    woken = Woken()
    releases = Cache()
    other_version = helmrelease("other-version", 2)
    other_version["spec"]["chart"]["version"] = "2"
    other_repository = helmrelease("other-repository", 3)
    other_repository["spec"]["chart"]["repository"] = "https://elsewhere.example.com/"
    from_git = helmrelease("from-git", 4)
    from_git["spec"]["chart"] = {"git": "https://git.example.com/app.git", "path": "app"}
    releases.replace(
        GROUP,
        [
            (hr_key(obj["metadata"]["name"]), obj)
            for obj in (helmrelease("a", 1), other_version, other_repository, from_git)
        ]
        + [(hr_key("b"), helmrelease("b", 5))],
    )
    fetched = wake_on_chart_fetched(releases, woken.bulk)
    fetched(api.ChartSpec("https://charts.example.com/", "app", "1"))
    assert sorted(woken.take()) == [("bulk", "a"), ("bulk", "b")]
