"""Fixtures shared by every test folder.

A test fails when it leaks asyncio tasks; warnings are errors for the whole suite
(pyproject's filterwarnings), so an unclosed session or a never-awaited coroutine
fails the test that caused it. The in-memory API server, a kubeconfig for it, an
isolated environment for the real helm/kubectl, the project's CRDs, the test chart
repository over HTTP, an OCI registry and a helm runner are shared by the folders that
talk to a server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from apiserver import ApiServer
from controller.helm import HelmRunner
from controller.kube.client import KubeClient
from controller.settings import HelmSettings, KubeSettings
from testkit import (
    CHARTS_DIR,
    ChartRepository,
    Registry,
    Unmet,
    pinned,
    register_crds,
    tool_env,
    wait_for,
)

HELM_BINARIES = {"helm4": pinned("helm"), "helm3": pinned("helm3")}
LEAK_GRACE = 10.0
"""Seconds a test's leftover tasks get to finish their cleanup before they count as leaked."""

# The suite runs the same examples on every machine: no deadline and no "too slow"
# health check (a cold machine spends a second building Hypothesis' Unicode tables in
# whichever test draws text first), derandomized so a failure reproduces as it is.
# HYPOTHESIS_PROFILE=explore draws fresh random examples instead, for local hunting.
hypothesis_settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
hypothesis_settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=1000
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()

    def running() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]

    try:  # tasks cancelled as the test ended may still be running their cleanup
        await wait_for(lambda: not running(), what="the test's tasks to end", within=LEAK_GRACE)
    except Unmet:
        leaked = running()
        names = ", ".join(sorted(t.get_name() + f" ({t.get_coro()!r})" for t in leaked))
        for task in leaked:
            task.cancel()
        pytest.fail(f"test leaked running asyncio tasks: {names}")


@pytest.fixture
def charts_dir() -> Path:
    """The test chart repository (index.yaml + packaged charts)."""
    return CHARTS_DIR


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    """The in-memory API server, with workload simulation (so helm --wait works)."""
    async with ApiServer(simulate=True, simulate_delay=0.05) as api:
        yield api


@pytest.fixture
async def kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    await apiserver.write_kubeconfig(path)
    return path


@pytest.fixture
async def client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    """The operator's own API client on the server."""
    async with await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig))) as kube:
        yield kube


@pytest.fixture
async def crds(kubeconfig: Path) -> None:
    """Every CRD of the project (manifests/crds/), registered and served."""
    await register_crds(kubeconfig)


@pytest.fixture
def helm_env(kubeconfig: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for helm/kubectl: the server's kubeconfig and fresh caches and HOME."""
    return tool_env(tmp_path / "home", kubeconfig)


@pytest.fixture
async def chart_repository() -> AsyncIterator[ChartRepository]:
    """The test chart repository served over HTTP on loopback."""
    async with ChartRepository() as repository:
        yield repository


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    """An empty OCI registry (Debian's ``docker-registry``) on loopback."""
    async with Registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def chart_repo(chart_repository: ChartRepository) -> str:
    """The test chart repository's base URL (no trailing slash)."""
    return chart_repository.url


@pytest.fixture(params=sorted(HELM_BINARIES))
def helm_bin(request: pytest.FixtureRequest) -> Path:
    """Each test using this runs once with helm 4 and once with helm 3."""
    binary: Path = HELM_BINARIES[request.param]
    return binary


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
