"""kubernetes-asyncio against the in-memory API server, through a written kubeconfig.

Covers typed and custom-object CRUD and list, a watch resumed from a
resourceVersion, the 410 Expired error surfacing in the client after compaction,
and a status subresource patch that leaves spec and generation alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from apiserver import ApiServer

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "helmreleases.flux.weave.works"},
    "spec": {
        "group": "flux.weave.works",
        "scope": "Namespaced",
        "names": {"plural": "helmreleases", "kind": "HelmRelease", "shortNames": ["hr"]},
        "versions": [
            {
                "name": "v1beta1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
GROUP, VERSION, PLURAL = "flux.weave.works", "v1beta1", "helmreleases"


@pytest.fixture
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with client.ApiClient(configuration) as api:
        yield api


def helmrelease(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": name},
        "spec": {"chart": {"repository": "http://charts", "name": "podinfo", "version": "1"}},
    }


async def test_core_objects_create_list_and_not_found(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"a": "1"}))
    await core.create_namespaced_config_map("default", body)
    listed = await core.list_namespaced_config_map("default", label_selector="a=1")
    assert [item.metadata.name for item in listed.items] == ["cfg"]
    with pytest.raises(ApiException) as error:
        await core.read_namespaced_config_map("missing", "default")
    assert error.value.status == 404


async def watch_to_the_end(core: client.CoreV1Api, resource_version: str) -> None:
    async with watch.Watch() as stream:
        async for _ in stream.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=resource_version,
            timeout_seconds=5,
        ):
            pass


async def test_watch_resumes_and_sees_410(
    apiserver: ApiServer, api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(api_client)
    first = await core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one"))
    )
    await core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two"))
    )
    seen = []
    async with watch.Watch() as stream:
        async for event in stream.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=first.metadata.resource_version,
            timeout_seconds=5,
        ):
            seen.append((event["type"], event["object"].metadata.name))
            break
    assert seen == [("ADDED", "two")]
    apiserver.faults.compact()
    with pytest.raises(ApiException) as error:
        await watch_to_the_end(core, first.metadata.resource_version)
    assert error.value.status == 410


async def test_custom_objects_and_status_patch(api_client: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    await extensions.create_custom_resource_definition(cast(Any, CRD))
    custom = client.CustomObjectsApi(api_client)
    created = await custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, helmrelease("demo")
    )
    assert created["metadata"]["generation"] == 1
    patched = await custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "demo",
        [  # the client sends a list body as a JSON patch
            {"op": "add", "path": "/status", "value": {"phase": "Deployed"}},
            {"op": "add", "path": "/spec/ignored", "value": True},
        ],
    )
    assert patched["status"] == {"phase": "Deployed"}
    assert "ignored" not in patched["spec"]
    assert patched["metadata"]["generation"] == 1
    listed = await custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["kind"] == "HelmReleaseList"
    assert [item["status"] for item in listed["items"]] == [{"phase": "Deployed"}]
