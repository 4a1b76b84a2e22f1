"""Fixtures for reading release records that real helm 4 and helm 3 wrote to the
in-memory API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.settings import KubeSettings


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig))) as kube:
        yield kube
