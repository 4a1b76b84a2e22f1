"""Writing the status subresource and Events through a real HTTP API server.

A status that did not change is not written; a write from a stale object gets a 409,
is rendered again from the fresh object and retried, keeping the observedGeneration of
the object it was asked about; a status write on a deleted object is no error; Events
are events.k8s.io/v1 objects regarding the HelmRelease; a failing Event write is only
logged.
"""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import ApiServer
from controller.api import PLURAL, V1BETA1
from controller.kube.client import KubeClient, resource_path
from controller.status import (
    RELEASED,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
    emit_event,
    write_status,
)

GROUP, VERSION = V1BETA1.group, V1BETA1.version

PATH = resource_path(GROUP, VERSION, PLURAL, namespace="default", name="podinfo")
UPDATE = StatusUpdate(
    phase="Succeeded",
    conditions=(Condition(RELEASED, TRUE, "InstallSucceeded", "installed"),),
    fields={"lastReleaseRevision": 1, "releaseName": "default-podinfo"},
)


pytestmark = pytest.mark.usefixtures("crds")


async def create(client: KubeClient) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {"chart": {"repository": "http://x.example/", "name": "p", "version": "1"}},
    }
    return await client.request(
        "POST", resource_path(GROUP, VERSION, PLURAL, namespace="default"), body=body
    )


async def test_status_is_written_then_left_alone(client: KubeClient) -> None:
    obj = await create(client)
    written = await write_status(client, obj, UPDATE, now=lambda: "2026-11-23T10:00:00Z")
    assert written["status"]["lastReleaseRevision"] == 1
    assert written["status"]["observedGeneration"] == obj["metadata"]["generation"]
    again = await write_status(client, written, UPDATE, now=lambda: "2026-11-23T11:00:00Z")
    assert again is written  # no request at all
    stored = await client.get(PATH)
    assert stored is not None
    assert stored["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]


async def test_conflict_rerenders_from_the_fresh_object(
    apiserver: ApiServer, client: KubeClient
) -> None:
    stale = await create(client)
    # someone else changes the object: the stale resourceVersion now conflicts
    await client.request(
        "PATCH",
        PATH,
        body={"metadata": {"labels": {"team": "a"}}},
        content_type="application/merge-patch+json",
    )
    written = await write_status(client, stale, UPDATE)
    status_writes = apiserver.audit.find(verb="patch", subresource="status")
    assert [record.code for record in status_writes] == [409, 200]
    assert written["metadata"]["labels"] == {"team": "a"}
    assert written["status"]["releaseName"] == "default-podinfo"


async def test_conflict_with_a_new_spec_keeps_the_generation_acted_on(
    client: KubeClient,
) -> None:
    stale = await create(client)
    await client.request(
        "PATCH",
        PATH,
        body={"spec": {"wait": True}},
        content_type="application/merge-patch+json",
    )
    written = await write_status(client, stale, UPDATE)
    assert (stale["metadata"]["generation"], written["metadata"]["generation"]) == (1, 2)
    assert written["status"]["observedGeneration"] == 1
    assert {c["observedGeneration"] for c in written["status"]["conditions"]} == {1}
    explicit = await write_status(client, written, StatusUpdate(phase="Failed"), generation=1)
    assert explicit["status"]["observedGeneration"] == 1


async def test_status_of_a_deleted_object_is_not_written(
    apiserver: ApiServer, client: KubeClient
) -> None:
    obj = await create(client)
    await client.request("DELETE", PATH)
    assert await write_status(client, obj, UPDATE) is obj
    [write] = apiserver.audit.find(verb="patch", subresource="status")
    assert write.code == 404


async def test_fields_set_to_none_are_removed(client: KubeClient) -> None:
    written = await write_status(client, await create(client), UPDATE)
    moved = await write_status(client, written, StatusUpdate(fields={"lastReleaseRevision": None}))
    assert "lastReleaseRevision" not in moved["status"]
    stored = await client.get(PATH)
    assert stored is not None
    assert "lastReleaseRevision" not in stored["status"]
    assert stored["status"]["releaseName"] == "default-podinfo"


async def test_event_regards_the_helmrelease(client: KubeClient) -> None:
    obj = await create(client)
    await emit_event(client, obj, EventNote("UpgradeFailed", "upgrade\nfailed", "Upgrade", True))
    listing = await client.request(
        "GET", resource_path("events.k8s.io", "v1", "events", namespace="default")
    )
    [event] = listing["items"]
    assert event["regarding"]["uid"] == obj["metadata"]["uid"]
    assert event["regarding"]["kind"] == "HelmRelease"
    assert (event["type"], event["reason"], event["note"]) == (
        "Warning",
        "UpgradeFailed",
        "upgrade failed",
    )
    assert event["reportingController"] == "helmrelease-operator"
    assert event["action"] == "Upgrade"


async def test_event_write_failure_is_logged_not_raised(
    client: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    obj = await create(client)
    gone = {**obj, "metadata": {**obj["metadata"], "namespace": "no-such-namespace"}}
    await emit_event(client, gone, EventNote("Uninstalled", "uninstalled", "Uninstall"))
    assert "could not record Event Uninstalled" in caplog.text
