"""The watches behind drift checks: a checked object's change wakes its HelmRelease at once.

Against the in-memory API server: after a check tells which objects it compared, their
kinds are watched (metadata only, helm's label); a spec change or a deletion of one wakes
its HelmRelease, a status update or a change of an object nobody checked wakes nobody;
a HelmRelease whose drift detection is turned off (or that is deleted) lets go of its
objects, and a kind nobody checks any more is no longer watched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from controller.driftwatch import HELM_SELECTOR, DriftWatches, Kind, forget_when_off
from controller.keys import ObjectKey
from controller.kube.cache import Cache, spec_version
from controller.kube.client import KubeClient, resource_path
from controller.kube.discovery import Located
from controller.settings import WatchSettings
from testkit import wait_for

WATCH = WatchSettings(backoff_initial=0.01, backoff_max=0.1, inactivity_timeout=10.0)
NS = "default"
OWNER = ObjectKey("helm.fluxcd.io", NS, "web")
HELM_LABELS = dict([HELM_SELECTOR.split("=")])


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {**labels, **HELM_LABELS}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "podinfo:6.7.1"}]},
            },
        },
    }


def configmap(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": HELM_LABELS},
        "data": {"value": value},
    }


DEPLOYMENTS = resource_path("apps", "v1", "deployments", NS)
CONFIGMAPS = resource_path("", "v1", "configmaps", NS)


def located(group: str, plural: str, name: str) -> Located:
    return Located(group, "v1", plural, NS, name)


@contextlib.asynccontextmanager
async def running(client: KubeClient, woken: list[ObjectKey]) -> AsyncIterator[DriftWatches]:
    watches = DriftWatches(client, WATCH, woken.append)
    task = asyncio.create_task(watches.run())
    try:
        yield watches
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_changes_of_checked_objects_wake_their_helmrelease(client: KubeClient) -> None:
    web = await client.request("POST", DEPLOYMENTS, body=deployment("web"))
    settings = await client.request("POST", CONFIGMAPS, body=configmap("settings", "a"))
    await client.request("POST", DEPLOYMENTS, body=deployment("unchecked"))
    woken: list[ObjectKey] = []
    async with running(client, woken) as watches:
        seen = (
            (located("apps", "deployments", "web"), spec_version(web)),
            (located("", "configmaps", "settings"), spec_version(settings)),
        )
        watches.checked(OWNER, seen)
        await wait_for(lambda: len(watches.kinds()) == 2 and watches.listed(), what="watching")
        assert watches.kinds() == {Kind("apps", "v1", "deployments"), Kind("", "v1", "configmaps")}
        assert woken == []  # listing what was checked is no change

        # a status update, then a change of an object no check compared: nobody woken...
        status = {"status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1}}
        await client.request(
            "PATCH",
            f"{DEPLOYMENTS}/web/status",
            body=status,
            content_type="application/merge-patch+json",
        )
        await client.request(
            "PATCH",
            f"{DEPLOYMENTS}/unchecked",
            body={"spec": {"replicas": 2}},
            content_type="application/merge-patch+json",
        )
        # ...then a spec change, later in the same stream: woken once, for it alone
        await client.request(
            "PATCH",
            f"{DEPLOYMENTS}/web",
            body={"spec": {"replicas": 3}},
            content_type="application/merge-patch+json",
        )
        await wait_for(lambda: woken == [OWNER], what="woken by the scaled Deployment")

        # the check that wake causes tells the same objects again: still watched
        scaled = await client.get(f"{DEPLOYMENTS}/web")
        assert scaled is not None
        watches.checked(OWNER, ((seen[0][0], spec_version(scaled)), seen[1]))
        await client.request("DELETE", f"{CONFIGMAPS}/settings")
        await wait_for(lambda: woken == [OWNER, OWNER], what="woken by the deleted ConfigMap")


async def test_turning_drift_detection_off_lets_go_of_the_objects(client: KubeClient) -> None:
    settings = await client.request("POST", CONFIGMAPS, body=configmap("settings", "a"))
    woken: list[ObjectKey] = []
    async with running(client, woken) as watches:
        releases = Cache()
        releases.set_on_change(forget_when_off(releases, watches))
        on = {"spec": {"driftDetection": {"mode": "warn"}}, "metadata": {"resourceVersion": "1"}}
        releases.put(OWNER, on)
        watches.checked(OWNER, ((located("", "configmaps", "settings"), spec_version(settings)),))
        await wait_for(lambda: len(watches.kinds()) == 1, what="the ConfigMaps watched")

        off = {
            "spec": {"driftDetection": {"mode": "disabled"}},
            "metadata": {"resourceVersion": "2"},
        }
        releases.put(OWNER, off)
        await wait_for(lambda: not watches.kinds(), what="no kind watched any more")
        await client.request("DELETE", f"{CONFIGMAPS}/settings")
        assert woken == []


@pytest.mark.parametrize(
    ("obj", "version"),
    [
        ({"metadata": {"generation": 4, "resourceVersion": "90"}}, "generation 4"),
        ({"metadata": {"resourceVersion": "90"}}, "resourceVersion 90"),
        ({"metadata": {"generation": 0, "resourceVersion": "7"}}, "resourceVersion 7"),
    ],
)
def test_the_version_of_an_object_ignores_status_updates_where_it_can(
    obj: dict[str, Any], version: str
) -> None:
    assert spec_version(obj) == version


async def test_an_object_checked_after_its_kind_was_listed_is_watched_too(
    client: KubeClient,
) -> None:
    first = await client.request("POST", CONFIGMAPS, body=configmap("first", "a"))
    later = await client.request("POST", CONFIGMAPS, body=configmap("later", "b"))
    other = ObjectKey(OWNER.group, NS, "other")
    woken: list[ObjectKey] = []
    async with running(client, woken) as watches:
        watches.checked(OWNER, ((located("", "configmaps", "first"), spec_version(first)),))
        await wait_for(lambda: len(watches.kinds()) == 1 and watches.listed(), what="listed")
        watches.checked(other, ((located("", "configmaps", "later"), spec_version(later)),))
        await client.request("DELETE", f"{CONFIGMAPS}/later")
        await wait_for(lambda: woken == [other], what="woken by the deleted ConfigMap")
