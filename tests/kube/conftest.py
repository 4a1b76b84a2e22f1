"""Fixtures for the kube tests: the in-memory API server, a client on it, the HelmRelease
CRD registered, and namespaces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from kubetesting import HELMRELEASE_CRD

from controller.kube.client import KubeClient, resource_path
from controller.settings import KubeSettings
from controller.testing.apiserver.server import ApiServer


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer(simulate=False, bookmark_interval=0.1) as server:
        yield server


@pytest.fixture
async def kubeconfig(api: ApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    await api.write_kubeconfig(path)
    return path


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig))) as kube:
        yield kube


@pytest.fixture
async def crd(client: KubeClient) -> None:
    """The HelmRelease CRD, registered."""
    path = resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    await client.request("POST", path, body=HELMRELEASE_CRD)


NamespaceMaker = Callable[[str], Awaitable[None]]


@pytest.fixture
def make_namespace(client: KubeClient) -> NamespaceMaker:
    async def make(name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await client.request("POST", resource_path("", "v1", "namespaces"), body=body)

    return make
