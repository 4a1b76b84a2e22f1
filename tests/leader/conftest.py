"""Fixtures for the leader election tests: the in-memory API server with the Lease namespace,
and the partitionable proxies a test made, cut at its end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from leadertesting import LEASE_NAMESPACE, Partition, PartitionMaker, replica_client

from apiserver.server import ApiServer
from controller.kube.client import resource_path


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer(simulate=False) as server:
        yield server


@pytest.fixture
async def lease_namespace(api: ApiServer, tmp_path: Path) -> None:
    async with await replica_client(api, tmp_path / "setup.kubeconfig", api.port) as client:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}}
        await client.request("POST", resource_path("", "v1", "namespaces"), body=body)


@pytest.fixture
async def make_partition(api: ApiServer) -> AsyncIterator[PartitionMaker]:
    """Start proxies to the API server on demand; all are cut when the test ends."""
    made: list[Partition] = []

    async def make() -> Partition:
        partition = Partition(api.port)
        await partition.start()
        made.append(partition)
        return partition

    yield make
    for partition in made:
        await partition.cut()
