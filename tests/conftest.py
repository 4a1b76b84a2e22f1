"""Fixtures shared by every test folder.

A test fails when it leaks asyncio tasks; warnings are errors for the whole suite
(pyproject's filterwarnings), so an unclosed session or a never-awaited coroutine
fails the test that caused it. The in-memory API server, a kubeconfig for it, an
isolated environment for the real helm/kubectl, the test chart repository over
HTTP and a helm runner are shared by the folders that talk to a server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from apiserver import ApiServer, serve_directory
from controller.helm import HelmRunner
from controller.kube.client import KubeClient, resource_path
from controller.settings import HelmSettings, KubeSettings

ROOT = Path(__file__).resolve().parent.parent
CHARTS_DIR = ROOT / "tests" / "data" / "charts"
TOOLS = ROOT / ".tools" / "bin"
HELMRELEASE_CRD = ROOT / "manifests" / "crds" / "helmreleases.flux.weave.works.yaml"
HELM_BINARIES = {"helm4": TOOLS / "helm", "helm3": TOOLS / "helm3"}

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
    for _ in range(20):  # let tasks that were just cancelled run their cleanup
        leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not leaked:
            return
        await asyncio.sleep(0)
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
async def helmrelease_crd(client: KubeClient) -> None:
    """The project's HelmRelease CRD, registered on the server."""
    crd = yaml.safe_load(await asyncio.to_thread(HELMRELEASE_CRD.read_text))
    path = resource_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    await client.request("POST", path, body=crd)


@pytest.fixture
def helm_env(kubeconfig: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for helm/kubectl: the server's kubeconfig and fresh caches and HOME."""
    home = tmp_path / "home"
    env = {
        "PATH": f"{TOOLS}:/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kubecache"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
    for name in ("HOME", "KUBECACHEDIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
async def chart_repo() -> AsyncIterator[str]:
    """The test chart repository served over HTTP on loopback (base URL, no slash)."""
    async with serve_directory(CHARTS_DIR) as url:
        yield url


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
