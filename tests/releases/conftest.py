"""Fixtures for reading release records that real helm 4 and helm 3 wrote to the
in-memory API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.helm import HelmRunner
from controller.kube.client import KubeClient
from controller.settings import HelmSettings, KubeSettings
from controller.testing.apiserver.server import ApiServer

ROOT = Path(__file__).resolve().parents[2]
HELM_BINARIES = {"helm4": ROOT / ".tools/bin/helm", "helm3": ROOT / ".tools/bin/helm3"}


@pytest.fixture(params=sorted(HELM_BINARIES))
def helm_bin(request: pytest.FixtureRequest) -> Path:
    """Each test using this runs once with helm 4 and once with helm 3."""
    binary: Path = HELM_BINARIES[request.param]
    return binary


@pytest.fixture
async def kubeconfig(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "kubeconfig"
    async with ApiServer(simulate=True) as api:
        await api.write_kubeconfig(path)
        yield path


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig))) as kube:
        yield kube


@pytest.fixture
async def runner(helm_bin: Path, client: KubeClient, tmp_path: Path) -> AsyncIterator[HelmRunner]:
    settings = HelmSettings(helm_bin=str(helm_bin), kill_grace=2.0, work_dir=tmp_path)
    helm = HelmRunner(settings, client.helm_env())
    yield helm
    await helm.close()
