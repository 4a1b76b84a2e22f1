"""``helm test`` and failing ``--wait`` with the real helm 4 and helm 3 and podinfo.

Each scenario runs with both binaries, podinfo 6.11.2 served from the loopback chart
repository, and the workload simulation deciding what its pods do: ``helm test`` passes
(the test hooks recorded as Succeeded), fails with ``faults.testFail`` (its test Pod runs
``exit 1``) and times out with ``faults.testTimeout`` (its test Pod loops for ever);
``helm upgrade --wait`` times out with ``faults.unready`` (the readinessProbe never passes)
and the next upgrade without it is ready again.
"""

from __future__ import annotations

from typing import Any

import pytest
from apitesting import Run

from apiserver import ApiServer
from apiserver.resources import GroupResource

HELMS = pytest.mark.parametrize("helm", ["helm", "helm3"])
PODS = GroupResource("", "pods")
DEPLOYMENTS = GroupResource("apps", "deployments")
TIMED_OUT = {
    "helm": "context deadline exceeded",
    "helm3": "timed out waiting for the condition",
}
"""How each helm says that ``helm test`` ran out of time."""
NOT_READY = {
    "helm": "resource Deployment/default/web-podinfo not ready",
    "helm3": "context deadline exceeded",
}
"""How each helm says that ``--wait`` ran out of time on podinfo's unready Deployment."""


def chart(repo: str) -> tuple[str, ...]:
    return ("podinfo", "--repo", repo, "--version", "6.11.2")


async def hook_phases(run: Run, helm: str, release: str) -> dict[str, str]:
    """The last run's phase of each test hook of ``release``, by the hook's kind of test."""
    status = (await run(helm, "status", release, "-o", "json")).check().json()
    hooks: list[dict[str, Any]] = status["hooks"]
    return {
        hook["name"].split("-podinfo-")[1].rsplit("-", 1)[0]: hook["last_run"]["phase"]
        for hook in hooks
        if hook["last_run"]
    }


@HELMS
async def test_helm_test_passes_then_fails_with_a_failing_test(
    run: Run, chart_repo: str, helm: str
) -> None:
    (await run(helm, "install", "demo", *chart(chart_repo), "--wait", "--timeout", "30s")).check()
    (await run(helm, "test", "demo", "--timeout", "30s")).check()
    assert await hook_phases(run, helm, "demo") == {
        "grpc-test": "Succeeded",
        "jwt-test": "Succeeded",
        "service-test": "Succeeded",
    }
    upgrade = ("upgrade", "demo", *chart(chart_repo), "--set", "faults.testFail=true")
    (await run(helm, *upgrade)).check()
    failed = await run(helm, "test", "demo", "--timeout", "30s")
    assert failed.code != 0
    assert "pod demo-podinfo-fault-test-" in failed.stderr
    assert "failed" in failed.stderr
    assert (await hook_phases(run, helm, "demo"))["fault-test"] == "Failed"


@HELMS
async def test_helm_test_times_out_on_a_test_that_never_ends(
    apiserver: ApiServer, run: Run, chart_repo: str, helm: str
) -> None:
    install = ("install", "slow", *chart(chart_repo), "--set", "faults.testTimeout=true")
    (await run(helm, *install)).check()
    timed_out = await run(helm, "test", "slow", "--timeout", "3s")
    assert timed_out.code != 0
    assert TIMED_OUT[helm] in timed_out.stderr
    [fault] = [
        pod
        for pod in apiserver.store.objects(PODS, "default")
        if pod["metadata"]["name"].startswith("slow-podinfo-fault-test-")
    ]
    assert fault["status"]["phase"] == "Running"


@HELMS
async def test_upgrade_wait_fails_while_unready_and_recovers_without_it(
    apiserver: ApiServer, run: Run, chart_repo: str, helm: str
) -> None:
    # Two replicas: podinfo's maxUnavailable of 1 lets helm 3 accept one unready replica of
    # one, as it does on a cluster.
    upgrade = ("upgrade", "--install", "web", *chart(chart_repo), "--set", "replicaCount=2")
    (await run(helm, *upgrade)).check()
    unready = await run(helm, *upgrade, "--set", "faults.unready=true", "--wait", "--timeout", "3s")
    assert unready.code != 0
    assert NOT_READY[helm] in unready.stderr
    deployment = apiserver.store.get_object(DEPLOYMENTS, "default", "web-podinfo")
    assert deployment["status"]["availableReplicas"] == 0
    (await run(helm, *upgrade, "--wait", "--timeout", "30s")).check()
    history = (await run(helm, "history", "web", "-o", "json")).check().json()
    assert [h["status"] for h in history] == ["superseded", "failed", "deployed"]
    deployment = apiserver.store.get_object(DEPLOYMENTS, "default", "web-podinfo")
    assert deployment["status"]["availableReplicas"] == 2
