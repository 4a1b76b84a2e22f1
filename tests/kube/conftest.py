"""Fixtures for the kube tests: the in-memory API server without workload simulation and
with frequent bookmarks (its kubeconfig and the client come from the top-level conftest),
and namespaces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from apiserver.server import ApiServer
from controller.kube.client import KubeClient, resource_path


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    async with ApiServer(simulate=False, bookmark_interval=0.1) as server:
        yield server


@pytest.fixture
def api(apiserver: ApiServer) -> ApiServer:
    return apiserver


NamespaceMaker = Callable[[str], Awaitable[None]]


@pytest.fixture
def make_namespace(client: KubeClient) -> NamespaceMaker:
    async def make(name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await client.request("POST", resource_path("", "v1", "namespaces"), body=body)

    return make
