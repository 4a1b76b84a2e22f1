"""``spec.dependsOn`` end to end (helm-controller's extension): the operator, real helm.

A chain C -> B -> A applied all at once is installed in the order A, B, C (read from
the API server's store: the creation of each release's first record); a dependant of a
HelmRelease that does not exist yet waits, and is installed as soon as that one is
created and Ready, long before any resync (ten minutes here); two HelmReleases that
depend on each other are Stalled with the cycle named. Needs the in-memory API server
(its store): not run against a cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2etesting import condition, stored

from apiserver import ApiServer
from apiserver.resources import GroupResource
from apiserver.store import WatchEvent
from testkit import ChartRepository, OperatorProcess, kubectl, wait_for

pytestmark = pytest.mark.e2e

SECRETS = GroupResource("", "secrets")
NAMESPACE = "default"


def helmrelease(repository: str, name: str, *depends: str) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "releaseName": name,
            "chart": {"repository": f"{repository}/", "name": "podinfo", "version": "6.7.1"},
            "dependsOn": [{"name": dependency} for dependency in depends],
        },
    }


def said(apiserver: ApiServer, name: str, kind: str) -> Mapping[str, Any]:
    """Condition ``kind`` of HelmRelease ``name`` as stored."""
    return condition(stored(apiserver, name), kind)


def record_releases(apiserver: ApiServer) -> list[str]:
    """The releases whose first record is created from now on, in the order they are."""
    created: list[str] = []

    def added(event: WatchEvent) -> None:
        name = event.obj.get("metadata", {}).get("name", "")
        if event.type == "ADDED" and event.resource == SECRETS and name.endswith(".v1"):
            created.append(name.removeprefix("sh.helm.release.v1.").removesuffix(".v1"))

    apiserver.store.add_listener(added)
    return created


async def apply(helm_env: dict[str, str], path: Path, *manifests: dict[str, Any]) -> None:
    await asyncio.to_thread(path.write_text, yaml.safe_dump_all(manifests))
    await kubectl(helm_env, "apply", "-f", str(path))


async def test_dependencies_order_installs_wake_dependants_and_name_cycles(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    async with (
        ChartRepository() as repository,
        OperatorProcess(tmp_path, "--workers", "4", kubeconfig=kubeconfig),
    ):
        url = repository.url
        installed = record_releases(apiserver)
        chain = [helmrelease(url, "c", "b"), helmrelease(url, "b", "a"), helmrelease(url, "a")]
        cycle = [helmrelease(url, "left", "right"), helmrelease(url, "right", "left")]
        waiting = helmrelease(url, "after-d", "d")
        await apply(helm_env, tmp_path / "first.yaml", *chain, *cycle, waiting)

        def all_ready(*names: str) -> bool:
            return all(said(apiserver, name, "Ready").get("status") == "True" for name in names)

        await wait_for(lambda: all_ready("a", "b", "c"), what="the chain Ready")
        assert [name for name in installed if name in ("a", "b", "c")] == ["a", "b", "c"]

        def stalled(name: str) -> dict[str, Any] | None:
            found = said(apiserver, name, "Stalled")
            return found if found.get("reason") == "DependencyCycle" else None

        left = await wait_for(
            lambda: stalled("left"),
            what=f"left Stalled on its cycle (now {said(apiserver, 'left', 'Ready')})",
        )
        assert "default/left -> default/right -> default/left" in left["message"]
        assert await wait_for(lambda: stalled("right"), what="right Stalled on its cycle")

        pending = said(apiserver, "after-d", "Reconciling")
        assert pending.get("reason") == "DependencyNotReady"
        assert "default/d: not found" in pending["message"]
        await apply(helm_env, tmp_path / "d.yaml", helmrelease(url, "d"))
        await wait_for(lambda: all_ready("d", "after-d"), what="after-d installed once d is Ready")
