"""Scenario 2, no-op resync: a restarted operator relists N releases in sync.

A fresh process lists every HelmRelease and helm release record and reconciles each
one: nothing should change, so no helm process may start (counted by the operator's
own metric and, independently, by requests with helm's user agent in the API server's
audit log). Its CPU is read from /proc when it has counted N reconciles; the CPU an
operator needs to start on an empty cluster is measured apart and subtracted, leaving
what the resync itself cost.
"""

from __future__ import annotations

from pathlib import Path

from bench.harness import (
    HELM_STARTED,
    HELM_USER_AGENT,
    RECONCILES,
    World,
    make_world,
    run_operator,
    wait_reconciled,
)
from bench.report import Figure, Results
from testkit import OperatorProcess

SCENARIO = "2 no-op resync"
TARGET_CPU_PER_1000 = 1.0
SECONDS_PER_RELEASE_LIMIT = 0.2


async def idle_startup_cpu(workdir: Path) -> float:
    """CPU seconds of an operator starting on a cluster without HelmReleases (ready)."""
    async with make_world(workdir) as world, run_operator(world, workers=1, tag="idle") as idle:
        return await idle.cpu_seconds()


def helm_processes(total: float, version_checks: float) -> float:
    """helm processes that act on releases (``helm version`` at start-up does not)."""
    return total - version_checks


async def measure(
    results: Results,
    world: World,
    operator: OperatorProcess,
    releases: int,
    audit_from: int,
    idle_cpu: float,
) -> None:
    reconciled = await wait_reconciled(
        operator, releases, within=60 + releases * SECONDS_PER_RELEASE_LIMIT
    )
    cpu, elapsed, samples = reconciled.cpu, reconciled.seconds, reconciled.samples
    started = helm_processes(
        samples.total(HELM_STARTED),
        samples.total(HELM_STARTED, command="version"),
    )
    helm_requests = sum(
        1 for record in world.api.audit[audit_from:] if HELM_USER_AGENT in record.user_agent
    )
    noops = samples.total(RECONCILES, result="noop")
    reconciles = samples.total(RECONCILES)
    results.add(
        Figure(SCENARIO, f"helm processes started, N={releases}", started, "count", target=0),
        Figure(
            SCENARIO,
            "API requests with helm's user agent",
            helm_requests,
            "count",
            target=0,
            note="API server audit log",
        ),
        Figure(
            SCENARIO,
            f"resync CPU, N={releases}",
            cpu - idle_cpu,
            "s",
            target=TARGET_CPU_PER_1000 * max(releases, 1000) / 1000,
            note=f"process {cpu:.2f} s minus {idle_cpu:.2f} s of an idle start",
        ),
        Figure(
            SCENARIO,
            "process start to all reconciled",
            elapsed,
            "s",
            note=f"{reconciles:.0f} reconciles of {releases} releases, {noops:.0f} no-ops",
        ),
    )
