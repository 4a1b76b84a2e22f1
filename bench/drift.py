"""Scenario 10, drift detection: what checking the live objects of N releases costs.

N releases of podinfo (a Deployment and a Service each) are installed with drift
detection off. A restarted operator relists them in sync (no drift check: the baseline);
then every HelmRelease is set to ``driftDetection.mode: enabled`` with the operator
stopped, one operator writes the statuses that change says, and a second restarted
operator relists them again: each release is now checked (its record read, each object
read and dry-run applied). Its CPU and its API requests (the API server's audit log, the
operator's user agent), minus the baseline's, are the cost of one check per release.
Then, with that operator idle, Deployments are deleted one at a time: each is timed from
its DELETE to the store event that made it again (the drift watch wakes the release at
once, the check recreates it). No helm process may start in any of it.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from apiserver.resources import GroupResource
from apiserver.store import WatchEvent
from bench.harness import (
    HELM_STARTED,
    HELMRELEASE_PATH,
    NAMESPACE,
    World,
    is_ready,
    make_world,
    percentile,
    release_names,
    run_operator,
    scraped,
    wait_reconciled,
)
from bench.report import Figure, Results
from bench.resync import helm_processes, idle_startup_cpu
from testkit import OperatorProcess, Scrape, wait_for

SCENARIO = "10 drift detection"
WORKERS = 4
OPERATOR_AGENT = "helmrelease-operator"
DEPLOYMENTS = GroupResource("apps", "deployments")
SECONDS_PER_RELEASE_LIMIT = 3.0
DELETIONS = 50
TARGET_CPU_MS_PER_CHECK = 5.0
TARGET_RECREATE_P99 = 1.0
CHECKS = "helmrelease_drift_checks_total"


@dataclass(frozen=True)
class Relist:
    """A restarted operator, from its start to every release reconciled (and checked)."""

    cpu: float
    requests: int
    """Requests with the operator's user agent."""
    helm: float
    seconds: float


async def run(results: Results, workdir: Path, releases: int) -> None:
    names = release_names(releases)
    idle = await idle_startup_cpu(workdir / "idle")
    async with make_world(workdir / "world") as world:
        await _install(world, names)
        async with _relisted(world, releases, "drift-off", checks=0) as (_, off):
            pass
        await _enable(world, names)
        async with _relisted(world, releases, "drift-first", checks=releases) as (_, first):
            pass
        async with _relisted(world, releases, "drift-on", checks=releases) as (operator, on):
            latencies = await _deletions(world, names[: min(DELETIONS, releases)])
            after = await operator.metrics()
    helm = off.helm + first.helm + _helm(after)
    _report(results, releases, idle, off, on, latencies, after, helm)


async def _install(world: World, names: list[str]) -> None:
    async with run_operator(world, workers=WORKERS, tag="drift-install"):
        await world.create_helmreleases(names, {"replicaCount": 1})
        await world.helmreleases.wait(
            lambda: (
                all(is_ready(o) for o in world.helmreleases.latest.values())
                and len(world.helmreleases.latest) >= len(names)
            ),
            within=60 + len(names) * SECONDS_PER_RELEASE_LIMIT,
            what=f"{len(names)} releases Ready",
        )


async def _enable(world: World, names: list[str]) -> None:
    path = HELMRELEASE_PATH.format(namespace=NAMESPACE)
    body = {"spec": {"driftDetection": {"mode": "enabled"}}}
    for name in names:
        await world.request("PATCH", f"{path}/{name}", body, "application/merge-patch+json")


@contextlib.asynccontextmanager
async def _relisted(
    world: World, releases: int, tag: str, *, checks: int
) -> AsyncIterator[tuple[OperatorProcess, Relist]]:
    """A restarted operator once it reconciled every release and counted ``checks`` drift
    checks; stopped after the block."""
    audit_from = len(world.api.audit)
    within = 60 + releases * 0.5
    async with run_operator(world, workers=WORKERS, tag=tag) as operator:
        await wait_reconciled(operator, releases, within=within)
        samples = await scraped(
            operator,
            lambda found: found.total(CHECKS) >= checks,
            within=within,
            what=f"{checks} drift checks",
        )
        requests = sum(1 for r in world.api.audit[audit_from:] if r.user_agent == OPERATOR_AGENT)
        elapsed = time.monotonic() - operator.launched_at
        relist = Relist(await operator.cpu_seconds(), requests, _helm(samples), elapsed)
        yield operator, relist


def _helm(samples: Scrape) -> float:
    started = samples.total(HELM_STARTED)
    return helm_processes(started, samples.total(HELM_STARTED, command="version"))


async def _deletions(world: World, names: list[str]) -> list[float]:
    """Seconds from each Deployment's DELETE to its creation again, one at a time."""
    made: dict[str, float] = {}

    def added(event: WatchEvent) -> None:
        if event.type == "ADDED" and event.resource == DEPLOYMENTS:
            made[event.obj["metadata"]["name"]] = time.monotonic()

    world.api.store.add_listener(added)
    latencies = []
    for name in names:
        deployment = f"{NAMESPACE}-{name}"  # podinfo's name for release <namespace>-<name>
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{deployment}"
        made.pop(deployment, None)
        started = time.monotonic()
        await world.request("DELETE", path)
        await wait_for(
            functools.partial(made.__contains__, deployment),
            what=f"{deployment} made again",
            within=30,
        )
        latencies.append(made[deployment] - started)
    return latencies


def _report(
    results: Results,
    releases: int,
    idle: float,
    off: Relist,
    on: Relist,
    latencies: list[float],
    after: Scrape,
    helm: float,
) -> None:
    corrections = after.total(CHECKS, result="corrected")
    results.add(
        Figure(
            SCENARIO,
            f"operator CPU per drift check, N={releases}",
            (on.cpu - off.cpu) / releases * 1000,
            "ms",
            target=TARGET_CPU_MS_PER_CHECK,
            note=(
                f"restart in sync: {on.cpu - idle:.2f} s with drift detection, "
                f"{off.cpu - idle:.2f} s without (idle start {idle:.2f} s subtracted)"
            ),
        ),
        Figure(
            SCENARIO,
            f"API requests per drift check, N={releases}",
            (on.requests - off.requests) / releases,
            "count",
            note=f"{on.requests} with, {off.requests} without; 2 objects per release",
        ),
        Figure(
            SCENARIO,
            f"restart to all checked, N={releases}",
            on.seconds,
            "s",
            note=f"{off.seconds:.1f} s to all reconciled without drift detection",
        ),
        Figure(
            SCENARIO,
            f"deleted Deployment to recreated p50, {len(latencies)} one at a time",
            percentile(latencies, 50),
            "s",
        ),
        Figure(
            SCENARIO,
            f"deleted Deployment to recreated p99, {len(latencies)} one at a time",
            percentile(latencies, 99),
            "s",
            target=TARGET_RECREATE_P99,
            note=f"{corrections:.0f} corrections counted by the operator",
        ),
        Figure(SCENARIO, "helm processes started", helm, "count", target=0),
    )
