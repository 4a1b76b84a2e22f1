"""Leader election between two operator processes on one API server.

Covers: exactly one of two replicas leads while both report ready (the standby keeps
its caches warm); only the leader runs helm; a leader killed without releasing its
Lease is replaced once the Lease expires, and the new leader carries on reconciling.
Runs on its own in-memory API server so the session's operator does not interfere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2etesting import local_operator

from testkit import OperatorProcess, kubectl, wait_for

pytestmark = pytest.mark.e2e

# A Lease renewed every 0.2 s lasts 4 s, and a leader that could not renew it for 3 s
# steps down: a busy machine may delay a renewal by a second without a change of leader.
# --helm-kill-grace must stay below lease duration minus renew deadline.
ELECTION = (
    *("--leader-election", "--lease-namespace", "operators"),
    *("--lease-duration", "4", "--lease-renew-deadline", "3"),
    *("--lease-retry-period", "0.2", "--helm-kill-grace", "0.4"),
)
HELM_STARTED = "helmrelease_helm_processes_started_total"


@pytest.fixture
async def replicas(
    crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[list[OperatorProcess]]:
    await kubectl(helm_env, "create", "namespace", "operators")
    operators = [
        local_operator(kubeconfig, tmp_path / name, *ELECTION, "--leader-identity", name, name=name)
        for name in ("replica-a", "replica-b")
    ]
    try:
        for operator in operators:
            await operator.start()  # ready means caches synced, leading or standing by
        yield operators
    finally:
        for operator in operators:
            operator.terminate()


async def leading(operator: OperatorProcess) -> bool:
    return (await operator.metrics()).total("helmrelease_leader") == 1


async def sole_leader(replicas: list[OperatorProcess]) -> OperatorProcess | None:
    found = [operator for operator in replicas if await leading(operator)]
    return found[0] if len(found) == 1 else None


async def helm_runs(replicas: list[OperatorProcess]) -> list[float]:
    return [(await op.metrics()).total(HELM_STARTED, command="upgrade") for op in replicas]


async def test_one_leader_runs_helm_and_a_killed_leader_is_replaced(
    replicas: list[OperatorProcess], helm_env: dict[str, str], chart_repo: str
) -> None:
    await wait_for(lambda: sole_leader(replicas), what="exactly one leader")
    release: dict[str, Any] = {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {
            "chart": {"repository": f"{chart_repo}/", "name": "podinfo", "version": "6.7.1"},
            "values": {"replicaCount": 1},
        },
    }
    await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(release))
    await kubectl(helm_env, "wait", "--for=condition=Ready", "hr/podinfo", "--timeout=60s")
    assert sorted(await helm_runs(replicas)) == [0, 1]  # one helm, run by one replica

    leader = await wait_for(lambda: sole_leader(replicas), what="exactly one leader")
    standby = next(op for op in replicas if op is not leader)
    leader.kill()  # no graceful release: the standby must wait for the Lease to expire
    await wait_for(lambda: leading(standby), what="the standby to take over")

    release["spec"]["values"] = {"replicaCount": 2}
    await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(release))

    async def upgraded() -> bool:
        hr = (await kubectl(helm_env, "get", "hr/podinfo", "-o", "json")).json()
        return hr.get("status", {}).get("lastReleaseRevision") == 2

    await wait_for(upgraded, what="the new leader to upgrade the release")
