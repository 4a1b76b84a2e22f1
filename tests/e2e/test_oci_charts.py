"""Charts from an OCI registry, end to end: the operator, real helm, a private registry on
loopback (the CNCF distribution registry, charts pushed by helm).

A HelmRelease whose ``chart.repository`` is ``oci://`` installs the newest tag matching
its constraint with the credentials of its ``chartPullSecret``; a new matching tag pushed
later upgrades it at the next resync (one second here), and the chart is downloaded once
per version. Needs the in-memory API server (it reads the store) and a registry the
operator reaches on loopback: not run against a cluster; skipped, saying why, without
the registry binary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2etesting import ready_at, stored

from apiserver import ApiServer
from testkit import CHARTS_DIR, OperatorProcess, kubectl, wait_for
from testkit.registry import Registry, push_chart, registry_available

UNAVAILABLE = registry_available()
"""Why the registry cannot run here (make test installs it), or None."""
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or ""),
]

NAMESPACE = "default"
USER, PASSWORD = "puller", "oci-e2e-password"


def manifests(registry: Registry) -> list[dict[str, Any]]:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "registry", "namespace": NAMESPACE},
        "stringData": {"username": USER, "password": PASSWORD},
    }
    release = {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "from-oci", "namespace": NAMESPACE},
        "spec": {
            "releaseName": "from-oci",
            "chart": {
                "repository": registry.oci("charts"),
                "name": "podinfo",
                "version": ">=6.0.0",
                "chartPullSecret": {"name": "registry"},
            },
        },
    }
    return [secret, release]


async def test_an_oci_chart_installs_and_follows_its_constraint(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    async with Registry(tmp_path / "registry", credentials=(USER, PASSWORD)) as registry:
        await push_chart(registry, CHARTS_DIR / "podinfo-6.7.1.tgz", "charts")
        flags = ("--oci-plain-http", registry.host, "--charts-sync-interval", "1s")
        flags += ("--repo-refresh-interval", "1s")
        async with OperatorProcess(tmp_path, *flags, kubeconfig=kubeconfig) as operator:
            applied = tmp_path / "oci.yaml"
            await asyncio.to_thread(applied.write_text, yaml.safe_dump_all(manifests(registry)))
            await kubectl(helm_env, "apply", "-f", str(applied))

            def released(version: str) -> Mapping[str, Any] | None:
                return ready_at(stored(apiserver, "from-oci"), version)

            installed = await wait_for(lambda: released("6.7.1"), what="installed from OCI")
            assert installed["lastReleaseRevision"] == 1
            await push_chart(registry, CHARTS_DIR / "podinfo-6.11.2.tgz", "charts")
            upgraded = await wait_for(lambda: released("6.11.2"), what="upgraded to the new tag")
            assert upgraded["lastReleaseRevision"] == 2
            samples = await operator.metrics()
    assert samples.total("helmrelease_chart_cache_misses_total") == 2  # one per version
