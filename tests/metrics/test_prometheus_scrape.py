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
from metricstesting import PROMETHEUS, Prometheus, apply_podinfo, prometheus

from apiserver import ApiServer
from controller import metrics
from testkit import OperatorProcess, wait_for

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

    return await wait_for(ingested, what=f"Prometheus to ingest {promql} >= {at_least}")


async def test_prometheus_ingests_reconcile_metrics(
    apiserver: ApiServer,
    operator: OperatorProcess,
    helm_env: dict[str, str],
    chart_repo: str,
    tmp_path: Path,
) -> None:
    assert PROMETHEUS is not None
    assert operator.url is not None
    target = operator.url.removeprefix("http://")
    async with (
        aiohttp.ClientSession() as session,
        prometheus(PROMETHEUS, target, tmp_path, session) as server,
    ):
        await ingest(apiserver, server, helm_env, chart_repo)
        await server.process.stop()  # both stop cleanly on SIGTERM
    await operator.stop()


async def ingest(
    apiserver: ApiServer, server: Prometheus, helm_env: dict[str, str], chart_repo: str
) -> None:
    """Install then upgrade podinfo; Prometheus ingests both, with the duration buckets."""
    await apply_podinfo(apiserver, helm_env, chart_repo, replicas=1, generation=1)

    installs = await counted(server, SUCCEEDED % "install", 1)
    buckets = await server.query('helmrelease_reconcile_duration_seconds_bucket{action="install"}')
    bounds = sorted(float(b["metric"]["le"]) for b in buckets)
    assert bounds == [*metrics.RECONCILE_BUCKETS, float("inf")]
    assert all(b["metric"]["job"] == "helmrelease-operator" for b in buckets)
    upgrades_before = await server.value(SUCCEEDED % "upgrade") or 0.0

    await apply_podinfo(apiserver, helm_env, chart_repo, replicas=2, generation=2)

    assert await counted(server, SUCCEEDED % "upgrade", upgrades_before + 1) >= 1
    assert await counted(server, SUCCEEDED % "install", installs) == installs
    total = 'sum(helmrelease_reconcile_total{action=~"install|upgrade",result="success"})'
    assert await counted(server, total, installs + 1) >= installs + 1
    upgrade_count = 'helmrelease_reconcile_duration_seconds_count{action="upgrade"}'
    assert await counted(server, upgrade_count, 1) >= 1
    await helm_operator_queries_answer(server)


async def helm_operator_queries_answer(server: Prometheus) -> None:
    """The Flux Helm Operator's example alerts and dashboard queries work unchanged."""
    release = 'target_namespace="default",release_name="default-podinfo"'
    released = f'flux_helm_operator_release_condition_info{{condition="Released",{release}}}'
    assert await counted(server, released, 1) == 1  # HelmReleaseError fires on == -1
    upgrades = (
        "flux_helm_operator_release_action_duration_seconds_count"
        f'{{action="upgrade",success="true",{release}}}'
    )
    assert await counted(server, upgrades, 1) >= 1
    assert await counted(server, "flux_helm_operator_release_count", 1) == 1
