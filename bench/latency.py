"""Scenario 3, reaction latency: one HelmRelease's values changed, one change at a time.

With the workers idle, each change is a merge PATCH of ``spec.values``; the next one is
sent when the release is Ready at the next revision. The latency is read from the API
server's audit log alone (one clock): from the PATCH to the first request of the helm
process the operator started for it. That includes helm's own start-up before its first
request, which bare helm pays too: ``helm_floor`` measures it (spawn to first request)
for bare ``helm upgrade`` so the operator's own share can be told apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.harness import (
    HELM_USER_AGENT,
    USER_AGENT,
    BenchError,
    HelmReleaseEvents,
    World,
    helm_env,
    helm_upgrade_args,
    is_ready,
    percentile,
    release_names,
    run_helm,
    write_values,
)
from bench.report import Figure, Results

SCENARIO = "3 reaction latency"
TARGET_P50_MS = 20.0
TARGET_P99_MS = 100.0
CHANGE_DEADLINE = 60.0
FLOOR_RUNS = 10
MS = 1000.0


def revision_of(obj: Mapping[str, Any] | None) -> int | None:
    status = obj.get("status") if obj is not None else None
    revision = status.get("lastReleaseRevision") if isinstance(status, Mapping) else None
    return revision if isinstance(revision, int) else None


def applied(events: HelmReleaseEvents, name: str, revision: int) -> bool:
    obj = events.latest.get(name)
    current = revision_of(obj)
    return obj is not None and current is not None and current >= revision and is_ready(obj)


def helm_request_time(
    world: World, audit_from: int, since: float, namespace: str | None = None
) -> float | None:
    """When the first request of a helm since ``since`` (in ``namespace``, if given)
    reached the API server (None: none yet), reading its audit log from ``audit_from``."""
    for record in world.api.audit[audit_from:]:
        if (
            HELM_USER_AGENT in record.user_agent
            and record.time >= since
            and namespace in (None, record.namespace)
        ):
            return record.time
    return None


def first_helm_request(
    world: World, audit_from: int, since: float, namespace: str | None = None
) -> float:
    """``helm_request_time`` of a helm known to be done."""
    found = helm_request_time(world, audit_from, since, namespace)
    if found is None:
        where = f" in namespace {namespace}" if namespace is not None else ""
        raise BenchError(f"no request from helm{where} in the audit log")
    return found


@dataclass(frozen=True)
class Changes:
    """What is changed, one change at a time, and which release it must upgrade."""

    make: Callable[[int], Awaitable[None]]
    """Sends the i-th change (one merge PATCH)."""
    resource: str
    """The resource the PATCH is sent to, as in the audit log."""
    name: str
    """The patched object's name."""
    release: str
    """The HelmRelease upgraded by each change."""


def values_of(world: World) -> Changes:
    """Changes of one HelmRelease's ``spec.values``."""
    name = release_names(1)[0]

    async def make(change: int) -> None:
        await world.patch_values(name, {"ui": {"message": f"change {change}"}})

    return Changes(make, "helmreleases", name, name)


def patch_time(world: World, audit_from: int, changes: Changes) -> float:
    for record in world.api.audit[audit_from:]:
        if (
            record.verb == "patch"
            and record.resource == changes.resource
            and record.name == changes.name
            and record.subresource is None
            and record.user_agent == USER_AGENT
        ):
            return record.time
    raise BenchError("the PATCH is missing from the audit log")


async def measure(world: World, changes: Changes, count: int) -> list[float]:
    """Seconds from each PATCH to the first request of the helm it caused."""
    events = world.helmreleases
    name = changes.release
    latencies = []
    for change in range(count):
        current = revision_of(events.latest.get(name))
        if current is None:
            raise BenchError(f"HelmRelease {name} has no status.lastReleaseRevision")
        expected = current + 1
        audit_from = len(world.api.audit)
        await changes.make(change)
        await events.wait(
            functools.partial(applied, events, name, expected),
            within=CHANGE_DEADLINE,
            what=f"revision {expected} of {name} Ready",
        )
        patched = patch_time(world, audit_from, changes)
        latencies.append(first_helm_request(world, audit_from, patched) - patched)
    return latencies


async def helm_floor(world: World) -> list[float]:
    """Bare ``helm upgrade``: seconds from spawning it to its first API request."""
    env = helm_env(world)
    values = world.workdir / "floor-values.yaml"
    floors = []
    for run in range(FLOOR_RUNS + 1):
        await write_values(values, {"ui": {"message": f"floor {run}"}})
        audit_from = len(world.api.audit)
        spawned = time.time()
        await run_helm(helm_upgrade_args("floor", values), env)
        if run:  # the first run installs; the operator's changes are upgrades
            floors.append(first_helm_request(world, audit_from, spawned) - spawned)
    return floors


def report(
    results: Results,
    latencies: list[float],
    floors: list[float],
    scenario: str = SCENARIO,
    label: str = "PATCH",
) -> None:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    start_up = percentile(floors, 50)
    estimated = "estimated: first-request {} minus helm's start-up p50"
    results.add(
        Figure(
            scenario,
            f"{label} to helm's first request, p50",
            p50 * MS,
            "ms",
            target=TARGET_P50_MS,
            note=f"{len(latencies)} changes",
        ),
        Figure(
            scenario, f"{label} to helm's first request, p99", p99 * MS, "ms", target=TARGET_P99_MS
        ),
        Figure(scenario, f"{label} to helm's first request, max", max(latencies) * MS, "ms"),
        Figure(
            scenario,
            "bare helm: spawn to its first request, p50",
            start_up * MS,
            "ms",
            note=f"helm's own start-up, part of the above; {len(floors)} upgrades",
        ),
        Figure(
            scenario,
            f"{label} to helm process start, p50",
            (p50 - start_up) * MS,
            "ms",
            target=TARGET_P50_MS,
            note=estimated.format("p50"),
        ),
        Figure(
            scenario,
            f"{label} to helm process start, p99",
            (p99 - start_up) * MS,
            "ms",
            target=TARGET_P99_MS,
            note=estimated.format("p99"),
        ),
    )
