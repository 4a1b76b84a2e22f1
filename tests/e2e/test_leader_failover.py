"""Leader election between two operator processes on one API server.

Covers: exactly one of two replicas leads while both report ready (the standby keeps
its caches warm); only the leader runs helm; a leader killed without releasing its
Lease is replaced once the Lease expires, and the new leader carries on reconciling.
Runs on its own in-memory API server so the session's operator does not interfere.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from e2etesting import Completed, LocalOperator, run, until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(ROOT / ".tools" / "bin" / "kubectl")
LEASE_DURATION = 2.0


async def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Completed:
    return (await run((KUBECTL, *args), env, stdin=stdin)).check()


@pytest.fixture
async def replicas(
    kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[list[LocalOperator]]:
    await kubectl(helm_env, "create", "namespace", "operators")
    await kubectl(helm_env, "apply", "-f", str(ROOT / "manifests" / "crds"))
    helm = os.environ.get("HELM_BIN", str(ROOT / ".tools" / "bin" / "helm"))
    election = ("--leader-election", "--lease-namespace", "operators")
    timing = ("--lease-duration", str(LEASE_DURATION), "--lease-renew-deadline", "1.5")
    operators = [
        LocalOperator(
            kubeconfig,
            helm,
            tmp_path / name,
            name=name,
            extra_args=(
                *election,
                *timing,
                *("--lease-retry-period", "0.2", "--helm-kill-grace", "0.4"),
                *("--leader-identity", name),
            ),
        )
        for name in ("replica-a", "replica-b")
    ]
    try:
        for operator in operators:
            await operator.start()  # ready means caches synced, leading or standing by
        yield operators
    finally:
        for operator in operators:
            operator.terminate()


async def leading(operator: LocalOperator) -> bool:
    return (await operator.metrics()).value("helmrelease_leader") == 1


async def test_one_leader_runs_helm_and_a_killed_leader_is_replaced(
    replicas: list[LocalOperator], helm_env: dict[str, str], chart_repo: str
) -> None:
    async def sole_leader() -> LocalOperator | None:
        found = [op for op in replicas if await leading(op)]
        return found[0] if len(found) == 1 else None

    leader = await until(sole_leader, within=10, what="exactly one leader")
    standby = next(op for op in replicas if op is not leader)
    release: dict[str, Any] = {
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {
            "chart": {"repository": f"{chart_repo}/", "name": "podinfo", "version": "6.7.1"},
            "values": {"replicaCount": 1},
        },
    }
    await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(release))
    await kubectl(helm_env, "wait", "--for=condition=Ready", "hr/podinfo", "--timeout=60s")
    started = "helmrelease_helm_processes_started_total"
    assert (await leader.metrics()).value(started, command="upgrade") == 1
    assert (await standby.metrics()).value(started, command="upgrade") == 0

    leader.kill()  # no graceful release: the standby must wait for the Lease to expire

    async def standby_leads() -> bool | None:
        return True if await leading(standby) else None

    await until(standby_leads, within=LEASE_DURATION * 5, what="the standby to take over")
    release["spec"]["values"] = {"replicaCount": 2}
    await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(release))

    async def upgraded() -> bool | None:
        hr = (await kubectl(helm_env, "get", "hr/podinfo", "-o", "json")).json()
        return True if hr.get("status", {}).get("revision") == 2 else None

    await until(upgraded, within=60, what="the new leader to upgrade the release")
