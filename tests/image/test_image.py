"""The container image, built as ``make image`` builds it and run as the Deployment runs it.

Once per session ``scripts/build-image`` builds the image with buildah (the official Python
base, or where that cannot be pulled the local Debian one; its layers are kept, so a build
of unchanged sources takes seconds). The image holds exactly the helm and kubectl of
``scripts/install-tools`` (same sha256), no helm 3, nothing of the tests or of the
in-memory API server, and stays under ``SIZE_BUDGET``.

podman runs it with the Deployment's own args, env, security context, limits and writable
emptyDirs (``imagetesting.podman_run_argv``), against the in-memory API server through a
read-only kubeconfig, with the test chart repository on loopback: a podinfo HelmRelease
becomes Ready and /metrics counts the install; a HelmRelease whose ``postRenderers``
patch a label into the Deployment becomes Ready with the label live (the kubectl of the
image ran); ``podman stop`` with the pod's grace period (SIGTERM) ends it with exit status
0 well before SIGKILL, its leader Lease given up. Skipped, saying why, where buildah, podman
or runc are not installed (or not as root, or not on x86_64).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from imagetesting import (
    OperatorContainer,
    build_image,
    deployment,
    grace_period,
    image_config,
    install_tools,
    podman,
    podman_run_argv,
    skip_reason,
    ulimits,
)

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import kubectl, wait_for

SKIP = skip_reason()
pytestmark = [pytest.mark.skipif(SKIP is not None, reason=SKIP or ""), pytest.mark.slow]

TAG = "localhost/helmrelease-operator:test"
SIZE_BUDGET = 450_000_000
"""Bytes: the base, git, the venv, helm and kubectl; helm 3, a compiler or the API server
would not fit."""
STOP_LIMIT = 30
"""Seconds an idle operator may take from SIGTERM to exit: nothing to drain."""
RELEASE_LIMIT = 120.0
"""Seconds from applying a HelmRelease to Ready (a cold container's first helm run)."""
HELMRELEASES = GroupResource("helm.fluxcd.io", "helmreleases")
DEPLOYMENTS = GroupResource("apps", "deployments")
LEASES = GroupResource("coordination.k8s.io", "leases")


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    build_image(TAG, tmp_path_factory.mktemp("image") / "build.log")
    return TAG


@pytest.fixture
async def operator(
    image: str, kubeconfig: Path, crds: None, helm_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[OperatorContainer]:
    """The operator container, ready and leading; removed afterwards."""
    manifest = deployment()
    # The namespace it runs in, where its leader election keeps the Lease.
    await kubectl(helm_env, "create", "namespace", manifest["metadata"]["namespace"])
    name = f"helmrelease-operator-test-{secrets.token_hex(4)}"
    # On loopback at a port of its own choosing (read from its log), whatever runs beside it.
    argv = podman_run_argv(
        manifest,
        name=name,
        image=image,
        kubeconfig=kubeconfig,
        volumes_dir=tmp_path / "volumes",
        flags=("--listen=127.0.0.1:0",),
    )
    container = OperatorContainer(argv, tmp_path / "operator.log", name=name)
    try:
        await container.start()
        await wait_for(lambda: leading(container), what=f"{name} to lead")
        yield container
    finally:
        await asyncio.to_thread(container.remove)


def test_the_image_holds_the_pinned_tools_and_nothing_of_the_tests(image: str) -> None:
    pinned = {b.target: b.sha256 for b in install_tools().BINARIES}
    probe = """
import hashlib, importlib.util, json, shutil
print(json.dumps({
    "sha256": {name: hashlib.sha256(open(shutil.which(name), "rb").read()).hexdigest()
               for name in ("helm", "kubectl")},
    "on_path": {
        name: shutil.which(name) for name in ("helm", "kubectl", "helm3", "git", "ssh", "setpriv")
    },
    "modules": {name: importlib.util.find_spec(name) is not None
                for name in ("controller", "apiserver", "testkit", "tests", "pip")},
    "testing_alias": importlib.util.find_spec("controller.testing") is not None,
}))
"""
    done = podman(
        "run", "--rm", *ulimits(), "--network=none", "--entrypoint=python3", image, "-c", probe
    )
    found = json.loads(done.stdout)
    assert found["sha256"] == {"helm": pinned["helm"], "kubectl": pinned["kubectl"]}
    assert found["on_path"] == {
        "helm": "/usr/local/bin/helm",
        "kubectl": "/usr/local/bin/kubectl",
        "helm3": None,
        "git": "/usr/bin/git",
        "ssh": "/usr/bin/ssh",
        "setpriv": "/usr/bin/setpriv",  # ties each helm's life to the operator's
    }
    expected = {"controller": True, "apiserver": False, "testkit": False, "tests": False}
    assert found["modules"] == {**expected, "pip": False}
    assert found["testing_alias"] is False

    inspected = image_config(image)
    config = inspected["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["helmrelease-operator"]
    assert config["Cmd"] == ["run"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HELMRELEASE_HELM_BIN"] == found["on_path"]["helm"]
    assert env["HELMRELEASE_KUBECTL_BIN"] == found["on_path"]["kubectl"]
    assert inspected["Size"] < SIZE_BUDGET, f"the image grew to {inspected['Size']:,} bytes"


async def test_the_image_releases_a_chart_and_serves_metrics(
    operator: OperatorContainer, apiserver: ApiServer, helm_env: dict[str, str], chart_repo: str
) -> None:
    await apply(helm_env, helmrelease("podinfo", chart_repo))
    await ready(apiserver, "podinfo")

    scrape = await operator.metrics()
    assert scrape.total("helmrelease_reconcile_total", action="install", result="success") >= 1


async def test_post_renderers_run_the_kubectl_of_the_image(
    operator: OperatorContainer, apiserver: ApiServer, helm_env: dict[str, str], chart_repo: str
) -> None:
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "labelled-podinfo", "labels": {"post-rendered": "by-kustomize"}},
    }
    renderer = {"kustomize": {"patches": [{"patch": yaml.safe_dump(patch)}]}}
    manifest = helmrelease("labelled", chart_repo, releaseName="labelled", postRenderers=[renderer])
    await apply(helm_env, manifest)
    await ready(apiserver, "labelled")

    live = apiserver.store.get(DEPLOYMENTS, "default", "labelled-podinfo")
    assert live is not None
    assert live.obj["metadata"]["labels"]["post-rendered"] == "by-kustomize"


async def test_sigterm_stops_it_within_the_grace_period(
    operator: OperatorContainer, apiserver: ApiServer
) -> None:
    manifest = deployment()
    limit = min(grace_period(manifest), STOP_LIMIT)
    # SIGTERM, then SIGKILL after the grace period (or STOP_LIMIT, if shorter), as the
    # kubelet does: exiting 0 is exiting before the SIGKILL. In a thread: the API server
    # shares this loop, and the operator releases its Lease as it stops.
    await asyncio.to_thread(podman, "stop", f"--time={limit}", operator.name, timeout=limit + 60)

    assert await operator.exited() == 0, operator.log_tail()
    assert operator.exit_code() == 0, f"SIGKILLed {limit}s after SIGTERM, or failed to stop cleanly"
    # It gave its Lease up, so that another replica need not wait for it to expire.
    lease = apiserver.store.get(LEASES, manifest["metadata"]["namespace"], "helmrelease-operator")
    assert lease is not None
    assert "holderIdentity" not in lease.obj["spec"]


# --- helpers ----------------------------------------------------------------------------------


async def leading(container: OperatorContainer) -> bool:
    return (await container.metrics()).total("helmrelease_leader") == 1


def helmrelease(name: str, chart_repo: str, **spec: Any) -> dict[str, Any]:
    """A HelmRelease of podinfo 6.7.1 from the test chart repository."""
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            **spec,
            "chart": {"repository": f"{chart_repo}/", "name": "podinfo", "version": "6.7.1"},
            "values": {"replicaCount": 1},
        },
    }


async def apply(helm_env: Mapping[str, str], manifest: Mapping[str, Any]) -> None:
    await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(manifest))


async def ready(apiserver: ApiServer, name: str) -> None:
    """Wait until the HelmRelease is Ready for its current generation."""
    status: dict[str, Any] = {}

    def is_ready() -> bool:
        entry = apiserver.store.get(HELMRELEASES, "default", name)
        hr = entry.obj if entry is not None else {"metadata": {}}
        status.clear()
        status.update(hr.get("status") or {})
        generation = hr["metadata"].get("generation")
        conditions = {
            condition.get("type"): condition.get("status")
            for condition in status.get("conditions", [])
            if condition.get("observedGeneration") == generation
        }
        if conditions.get("Stalled") == "True":  # nothing more will happen
            stalled = next(c for c in status["conditions"] if c.get("type") == "Stalled")
            raise AssertionError(f"{name} is Stalled: {stalled.get('message')}")
        return conditions.get("Ready") == "True"

    what = f"HelmRelease default/{name} to be Ready"
    try:
        await wait_for(is_ready, what=what, within=RELEASE_LIMIT)
    except AssertionError as error:
        last = f"{error}; last status: {json.dumps(status, indent=1)}"
        raise type(error)(last) from None
