"""A real Prometheus scrapes the operator's /metrics while it installs and upgrades a release.

The operator runs as its own process (real helm 4) against the in-memory API server and
the test chart repository; Prometheus scrapes it every second. Once a podinfo
HelmRelease is Ready, Prometheus' query API shows the reconcile counter and the
reconcile duration histogram (every bucket from 5 ms to 30 min); after a values change
the upgrade is counted too. Both processes stop cleanly on SIGTERM. Skipped, saying
why, only where the Prometheus binary is not installed.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from metricstesting import (
    PROMETHEUS,
    Prometheus,
    eventually,
    helmrelease,
    install_crd,
    kubectl,
    operator,
    prometheus,
    wait_ready,
)

from apiserver import ApiServer
from controller import metrics

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (make test installs the Debian package)",
)

SUCCEEDED = 'helmrelease_reconcile_total{result="success",action="%s"}'


async def counted(server: Prometheus, promql: str, at_least: float) -> float:
    """Wait until Prometheus has ingested a sample of ``promql`` of at least ``at_least``."""

    async def ingested() -> float | None:
        value = await server.value(promql)
        return value if value is not None and value >= at_least else None

    return await eventually(ingested, f"Prometheus to ingest {promql} >= {at_least}")


async def test_prometheus_ingests_reconcile_metrics(
    apiserver: ApiServer,
    kubeconfig: Path,
    helm_env: dict[str, str],
    chart_repo: str,
    tmp_path: Path,
) -> None:
    assert PROMETHEUS is not None
    await install_crd(helm_env)
    async with (
        aiohttp.ClientSession() as session,
        operator(kubeconfig, helm_env, tmp_path) as (operator_process, metrics_url),
        prometheus(PROMETHEUS, metrics_url.removeprefix("http://"), tmp_path, session) as server,
    ):
        manifest = helmrelease("podinfo", chart_repo, {"replicaCount": 1})
        await kubectl(helm_env, "apply", "-f", "-", stdin=manifest)
        await wait_ready(apiserver, "podinfo", generation=1)

        installs = await counted(server, SUCCEEDED % "install", 1)
        buckets = await server.query(
            'helmrelease_reconcile_duration_seconds_bucket{action="install"}'
        )
        bounds = sorted(float(b["metric"]["le"]) for b in buckets)
        assert bounds == [*metrics.RECONCILE_BUCKETS, float("inf")]
        assert all(b["metric"]["job"] == "helmrelease-operator" for b in buckets)
        upgrades_before = await server.value(SUCCEEDED % "upgrade") or 0.0

        changed = helmrelease("podinfo", chart_repo, {"replicaCount": 2})
        await kubectl(helm_env, "apply", "-f", "-", stdin=changed)
        await wait_ready(apiserver, "podinfo", generation=2)

        assert await counted(server, SUCCEEDED % "upgrade", upgrades_before + 1) >= 1
        assert await counted(server, SUCCEEDED % "install", installs) == installs
        total = 'sum(helmrelease_reconcile_total{action=~"install|upgrade",result="success"})'
        assert await counted(server, total, installs + 1) >= installs + 1
        upgrade_count = 'helmrelease_reconcile_duration_seconds_count{action="upgrade"}'
        assert await counted(server, upgrade_count, 1) >= 1

        assert await server.process.stop() == 0
        assert await operator_process.stop() == 0
