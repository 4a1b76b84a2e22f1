"""Fixtures for running real helm 4 and helm 3 against the in-memory API server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from controller.helm import HelmRunner
from controller.settings import HelmSettings
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
async def runner(helm_bin: Path, kubeconfig: Path, tmp_path: Path) -> AsyncIterator[HelmRunner]:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    settings = HelmSettings(
        helm_bin=str(helm_bin), kill_grace=2.0, deadline_margin=30.0, work_dir=work_dir
    )
    helm = HelmRunner(settings, {"KUBECONFIG": str(kubeconfig)})
    yield helm
    await helm.close()


HelmCli = Callable[..., Awaitable[tuple[int, str, str]]]
"""Runs real helm directly from a test (to check what the runner did): exit code, out, err."""


@pytest.fixture
def helm_cli(helm_bin: Path, kubeconfig: Path, tmp_path: Path) -> HelmCli:
    home = tmp_path / "cli-home"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kube-cache"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(helm_bin),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        async with asyncio.timeout(60):
            stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    return run
