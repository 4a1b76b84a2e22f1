"""ConfigMaps and Secrets read by ``spec.valuesFrom`` wake the HelmReleases that read them.

Covers: the index of references follows the HelmRelease cache (added, changed, a spec
error, deleted; a source in another namespace; v1beta1's ``valueFileSecrets``; URLs
and chart files are not indexed); a source cache keeps only referenced objects (and
forgets one as soon as nobody reads it); a change of a kept source (added, edited,
deleted) wakes every reader and nothing else; a source's kind matters (a ConfigMap and
a Secret of one name are different sources); an object unchanged wakes nothing.
"""

from __future__ import annotations

from typing import Any

from controller import api
from controller.keys import ObjectKey
from controller.kube.cache import Cache
from controller.wakes import (
    SourceIndex,
    each,
    identity,
    references,
    track_sources,
    values_sources,
    wake_on_change_of_intent,
)

CM = api.SourceKind.CONFIG_MAP
SECRET = api.SourceKind.SECRET


def helmrelease(
    namespace: str, name: str, values_from: list[dict[str, Any]], version: int = 1, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": api.V1.api_version,
        "kind": "HelmRelease",
        "metadata": {
            "namespace": namespace,
            "name": name,
            "generation": version,
            "resourceVersion": str(version),
        },
        "spec": {
            "chart": {"repository": "https://charts.example.com/", "name": "app", "version": "1"},
            "valuesFrom": values_from,
            **spec,
        },
    }


def configmap_ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"configMapKeyRef": {"name": name, **extra}}


def secret_ref(name: str, **extra: Any) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, **extra}}


def source(namespace: str, name: str, version: int = 1) -> dict[str, Any]:
    """A ConfigMap's or Secret's metadata, as the metadata-only watch sends it."""
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": str(version)}}


def key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey("", namespace, name)


def hr_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(api.V1.group, namespace, name)


class World:
    """The HelmRelease cache and the two source caches, wired as the operator wires them."""

    def __init__(self) -> None:
        self.woken: list[ObjectKey] = []
        self.index = SourceIndex()
        self.releases = Cache()
        self.sources = {
            kind: values_sources(self.index, kind, self.woken.append) for kind in (CM, SECRET)
        }
        self.releases.set_on_change(
            each(
                [
                    track_sources(self.index, self.releases, self.sources),
                    wake_on_change_of_intent(self.releases, self.woken.append),
                ]
            )
        )

    def apply(self, obj: dict[str, Any]) -> ObjectKey:
        metadata = obj["metadata"]
        hr = hr_key(metadata["namespace"], metadata["name"])
        self.releases.put(hr, obj)
        return hr

    def wakes(self) -> list[ObjectKey]:
        woken = list(self.woken)
        self.woken.clear()
        return woken


def test_references_are_the_configmaps_and_secrets_of_a_valid_spec() -> None:
    obj = helmrelease(
        "apps",
        "web",
        [
            configmap_ref("env"),
            secret_ref("creds", namespace="vault", key="k"),
            {"externalSourceRef": {"url": "https://values.example.com/v.yaml"}},
            {"chartFileRef": {"path": "ci/prod.yaml"}},
        ],
    )
    assert references(obj) == {(CM, key("apps", "env")), (SECRET, key("vault", "creds"))}
    legacy = {**obj, "apiVersion": api.V1BETA1.api_version}
    legacy["spec"] = {**obj["spec"], "valuesFrom": [], "valueFileSecrets": [{"name": "old"}]}
    assert references(legacy) == {(SECRET, key("apps", "old"))}
    invalid = helmrelease("apps", "web", [configmap_ref("env")], chart={"name": "no-repo"})
    assert isinstance(api.parse(invalid), api.SpecError)
    assert references(invalid) == frozenset()


def test_the_index_follows_helmreleases_added_changed_invalid_and_deleted() -> None:
    world = World()
    web = world.apply(helmrelease("apps", "web", [configmap_ref("env"), secret_ref("creds")]))
    api_ = world.apply(helmrelease("apps", "api", [configmap_ref("env")]))
    assert world.index.owners(CM, key("apps", "env")) == [api_, web]
    assert world.index.owners(SECRET, key("apps", "creds")) == [web]

    world.apply(helmrelease("apps", "web", [configmap_ref("other")], version=2))
    assert world.index.owners(CM, key("apps", "env")) == [api_]
    assert world.index.owners(CM, key("apps", "other")) == [web]
    assert not world.index.referenced(SECRET, key("apps", "creds"))

    broken = helmrelease("apps", "api", [configmap_ref("env")], version=2, chart={})
    world.apply(broken)
    assert world.index.references(api_) == frozenset()
    assert not world.index.referenced(CM, key("apps", "env"))

    world.releases.delete(web)
    assert world.index.references(web) == frozenset()
    assert not world.index.referenced(CM, key("apps", "other"))


def test_a_changed_source_wakes_every_reader_and_only_them() -> None:
    world = World()
    web = world.apply(helmrelease("apps", "web", [configmap_ref("env")]))
    api_ = world.apply(helmrelease("apps", "api", [configmap_ref("env"), secret_ref("env")]))
    world.apply(helmrelease("apps", "lone", [configmap_ref("solo")]))
    world.wakes()
    configmaps, secrets = world.sources[CM], world.sources[SECRET]

    configmaps.put(key("apps", "env"), source("apps", "env"))  # first seen: an addition
    assert world.wakes() == [api_, web]
    configmaps.put(key("apps", "env"), source("apps", "env"))  # same version: no change
    assert world.wakes() == []
    configmaps.put(key("apps", "env"), source("apps", "env", version=2))
    assert world.wakes() == [api_, web]
    secrets.put(key("apps", "env"), source("apps", "env"))  # the Secret of that name
    assert world.wakes() == [api_]
    configmaps.delete(key("apps", "env"))
    assert world.wakes() == [api_, web]


def test_unreferenced_sources_are_never_held_and_wake_nothing() -> None:
    world = World()
    world.apply(helmrelease("apps", "web", [configmap_ref("env")]))
    world.wakes()
    configmaps = world.sources[CM]
    configmaps.replace(
        "",
        [
            (key("apps", "env"), source("apps", "env")),
            *((key("apps", f"noise-{n}"), source("apps", f"noise-{n}")) for n in range(100)),
            (key("elsewhere", "env"), source("elsewhere", "env")),
        ],
    )
    assert list(configmaps) == [key("apps", "env")]
    assert configmaps.synced.is_set()
    world.wakes()
    configmaps.put(key("apps", "noise-1"), source("apps", "noise-1", version=2))
    configmaps.delete(key("apps", "noise-2"))
    world.sources[SECRET].put(key("apps", "env"), source("apps", "env"))
    assert world.wakes() == []
    assert list(configmaps) == [key("apps", "env")]
    assert len(world.sources[SECRET]) == 0


def test_a_source_nobody_reads_any_more_is_forgotten_at_once() -> None:
    world = World()
    web = world.apply(helmrelease("apps", "web", [configmap_ref("env")]))
    configmaps = world.sources[CM]
    configmaps.put(key("apps", "env"), source("apps", "env"))
    assert key("apps", "env") in configmaps

    world.apply(helmrelease("apps", "web", [], version=2))
    assert len(configmaps) == 0
    world.wakes()
    configmaps.put(key("apps", "env"), source("apps", "env", version=2))
    assert world.wakes() == []

    # Read again later: nothing happens until its next change, which then wakes.
    world.apply(helmrelease("apps", "web", [configmap_ref("env")], version=3))
    assert world.wakes() == [web]  # the spec change itself
    configmaps.put(key("apps", "env"), source("apps", "env", version=3))
    assert world.wakes() == [web]
    assert key("apps", "env") in configmaps

    world.releases.delete(web)
    assert len(configmaps) == 0


def test_a_status_write_keeps_the_references_and_wakes_nothing() -> None:
    world = World()
    obj = helmrelease("apps", "web", [configmap_ref("env")])
    web = world.apply(obj)
    world.wakes()
    world.apply({**obj, "metadata": {**obj["metadata"], "resourceVersion": "9"}, "status": {}})
    assert world.wakes() == []
    assert world.index.owners(CM, key("apps", "env")) == [web]


def test_identity_keeps_no_payload() -> None:
    secret = {
        "metadata": {"namespace": "apps", "name": "creds", "resourceVersion": "3", "uid": "u"},
        "data": {"values.yaml": "c2VjcmV0"},
    }
    assert identity(secret) == source("apps", "creds", version=3)
    assert identity({}) == {"metadata": {}}
