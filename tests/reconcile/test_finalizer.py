"""Our finalizer on a HelmRelease through a real HTTP API server (the shared
conflict-retrying patch): added once and kept with other finalizers when the object
changed meanwhile (409, re-read, patched again); adding to a deleted object is an
error, removing from one that is already gone is not."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import ApiServer
from controller.api import FINALIZER, PLURAL, V1BETA1
from controller.kube.client import KubeClient, NotFound, resource_path
from controller.reconcile import finalizer

GROUP, VERSION = V1BETA1.group, V1BETA1.version

PATH = resource_path(GROUP, VERSION, PLURAL, namespace="default", name="podinfo")
OTHER = "example.com/keep"


pytestmark = pytest.mark.usefixtures("crds")


async def create(client: KubeClient, finalizers: list[str]) -> dict[str, Any]:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default", "finalizers": finalizers},
        "spec": {"chart": {"repository": "http://x.example/", "name": "p", "version": "1"}},
    }
    return await client.request(
        "POST", resource_path(GROUP, VERSION, PLURAL, namespace="default"), body=body
    )


async def set_finalizers(client: KubeClient, finalizers: list[str]) -> None:
    await client.request(
        "PATCH",
        PATH,
        body={"metadata": {"finalizers": finalizers}},
        content_type="application/merge-patch+json",
    )


async def test_added_once(apiserver: ApiServer, client: KubeClient) -> None:
    added = await finalizer.add(client, await create(client, []))
    assert added["metadata"]["finalizers"] == [FINALIZER]
    assert await finalizer.add(client, added) is added  # no request at all
    assert len(apiserver.audit.find(verb="patch", resource=PLURAL)) == 1


async def test_conflict_rereads_and_keeps_other_finalizers(
    apiserver: ApiServer, client: KubeClient
) -> None:
    stale = await create(client, [])
    await set_finalizers(client, [OTHER])
    added = await finalizer.add(client, stale)
    assert added["metadata"]["finalizers"] == [OTHER, FINALIZER]
    patches = apiserver.audit.find(verb="patch", resource=PLURAL)
    assert [record.code for record in patches] == [200, 409, 200]
    removed = await finalizer.remove(client, added)
    assert removed["metadata"]["finalizers"] == [OTHER]


async def test_adding_to_a_deleted_object_is_not_found(client: KubeClient) -> None:
    obj = await create(client, [])
    await client.request("DELETE", PATH)
    with pytest.raises(NotFound):
        await finalizer.add(client, obj)


async def test_removing_from_an_object_already_gone_is_done(client: KubeClient) -> None:
    obj = await create(client, [FINALIZER])
    await client.request("DELETE", PATH)
    await set_finalizers(client, [])  # someone else let it go
    assert await client.get(PATH) is None
    assert finalizer.present(await finalizer.remove(client, obj))  # the object as we knew it
