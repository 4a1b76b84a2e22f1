"""Scenario 14, scale: N HelmReleases in sync on one replica (``make bench SCALE=100000``).

The N releases are made in sync as scenario 4 makes its 10,000 (``bench.insync``: one
real install, copied per release into the API server's store). The operator runs as it
is deployed, with leader election (a Lease lasting 15 s, renewed every 2 s), 4 workers and
a resync interval of 120 s. Measured, in order: replica A starts, and the time from its
process start to the scrape that shows every release reconciled (each one found in sync:
no helm process may start) is taken with its CPU then and its peak RSS (VmHWM). Then a
full no-op resync: every release comes due again 120 s after its first reconcile; A's CPU
from the scrape that counted N reconciles to the one that counted 2N, per release
(everything A did meanwhile counts, its idle work too). Then a leader failover: replica
B starts and stands by with its caches synced; A is killed (SIGKILL: its Lease is not
given back) and at once one release's values are changed; the time from the kill to the
first API request of the helm that B starts for it (both in the API server's audit log)
is held against the Lease duration + 2 s, and B's peak RSS is read. The API server serves
both replicas from this process; its time to LIST the HelmReleases in pages of 500, as
the operator reads them, is in a note.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.harness import (
    HELM_STARTED,
    HELMRELEASE_PATH,
    NAMESPACE,
    RECONCILES,
    BenchError,
    World,
    make_world,
    release_names,
    run_operator,
    scraped,
    wait_reconciled,
)
from bench.insync import make_in_sync
from bench.latency import helm_request_time
from bench.report import MIB, Figure, Results
from bench.resync import helm_processes
from testkit import OperatorProcess, Scrape, wait_for

SCENARIO = "14 scale"
WORKERS = 4
RESYNC = 120.0
LEASE_DURATION = 15.0
LEASE_NAMESPACE = "bench-leases"
TARGET_RSS_MIB = 1024.0
TARGET_START_SECONDS = 60.0
TARGET_RESYNC_MS = 0.3
FAILOVER_MARGIN = 2.0
SECONDS_PER_RELEASE_LIMIT = 0.01
"""How long a start or a resync may take per release before the scenario gives up."""


def election(identity: str) -> tuple[str, ...]:
    return (
        *("--leader-election", "--lease-namespace", LEASE_NAMESPACE),
        *("--leader-identity", identity, "--lease-duration", f"{LEASE_DURATION:g}"),
        *("--resync-interval", f"{RESYNC:g}"),
    )


async def run(results: Results, workdir: Path, releases: int) -> None:
    async with make_world(workdir) as world:
        results.note(f"14 scale: {await make_in_sync(world, releases)}")
        await world.request("POST", "/api/v1/namespaces", {"metadata": {"name": LEASE_NAMESPACE}})
        results.note(f"14 scale: {await _list_time(world, releases)}")
        within = 120 + releases * SECONDS_PER_RELEASE_LIMIT
        async with run_operator(
            world, workers=WORKERS, tag="scale-a", extra=election("a")
        ) as leader:
            await _start(results, leader, releases, within)
            await _resync(results, leader, releases, within + RESYNC)
            async with run_operator(
                world, workers=WORKERS, tag="scale-b", extra=election("b")
            ) as standby:
                await _failover(results, world, leader)
                memory = await standby.memory()
    results.add(
        Figure(
            SCENARIO,
            f"replica B peak RSS, N={releases:,} (standby, then leader)",
            memory["VmHWM"] / MIB,
            "MiB",
            target=TARGET_RSS_MIB,
        )
    )


async def _start(results: Results, leader: OperatorProcess, releases: int, within: float) -> None:
    reconciled = await wait_reconciled(leader, releases, within=within)
    memory = await leader.memory()
    samples = reconciled.samples
    results.add(
        Figure(
            SCENARIO,
            f"process start to every release confirmed, N={releases:,}",
            reconciled.seconds,
            "s",
            target=TARGET_START_SECONDS,
            note=f"{reconciled.cpu:.1f} s CPU",
        ),
        Figure(
            SCENARIO,
            f"helm processes started, N={releases:,} in sync",
            _helm_started(samples),
            "count",
            target=0,
            note=f"{samples.total(RECONCILES):.0f} reconciles of {releases:,} releases",
        ),
        Figure(
            SCENARIO,
            f"operator peak RSS, N={releases:,} in sync",
            memory["VmHWM"] / MIB,
            "MiB",
            target=TARGET_RSS_MIB,
            note=f"RSS now {memory['VmRSS'] / MIB:.0f} MiB",
        ),
    )


async def _resync(results: Results, leader: OperatorProcess, releases: int, within: float) -> None:
    before = await leader.metrics(RECONCILES)
    cpu_before = await leader.cpu_seconds()
    counted = before.total(RECONCILES)
    started = time.monotonic()
    await scraped(
        leader,
        lambda samples: samples.total(RECONCILES) >= counted + releases,
        within=within,
        what=f"a full resync of {releases:,} releases",
        names=[RECONCILES],
    )
    cpu = await leader.cpu_seconds() - cpu_before
    after = await leader.metrics(RECONCILES, HELM_STARTED)
    noops = after.total(RECONCILES, result="noop") - before.total(RECONCILES, result="noop")
    results.add(
        Figure(
            SCENARIO,
            f"full no-op resync: operator CPU per release, N={releases:,}",
            cpu / releases * 1000,
            "ms",
            target=TARGET_RESYNC_MS,
            note=(
                f"{cpu:.1f} s CPU over {time.monotonic() - started:.0f} s, "
                f"{noops:.0f} no-op reconciles, {_helm_started(after):.0f} helm processes"
            ),
        )
    )


async def _failover(results: Results, world: World, leader: OperatorProcess) -> None:
    name = release_names(1)[0]
    audit_from = len(world.api.audit)
    killed = time.time()
    leader.kill()
    await world.patch_values(name, {"ui": {"message": "failover"}})
    # the audit log, not the helm counter: a helm counted as started has not always
    # reached the API server yet
    first = await wait_for(
        lambda: helm_request_time(world, audit_from, killed),
        within=LEASE_DURATION * 4,
        what="the first request of the new leader's helm",
    )
    results.add(
        Figure(
            SCENARIO,
            "leader killed to the new leader's helm for a changed release",
            first - killed,
            "s",
            target=LEASE_DURATION + FAILOVER_MARGIN,
            note=f"Lease duration {LEASE_DURATION:g} s",
        )
    )


def _helm_started(samples: Scrape) -> float:
    return helm_processes(
        samples.total(HELM_STARTED), samples.total(HELM_STARTED, command="version")
    )


async def _list_time(world: World, releases: int) -> str:
    """How long the API server takes to LIST the HelmReleases, page by page."""
    started = time.monotonic()
    listed, token = 0, ""
    while True:
        query = f"?limit=500&continue={token}" if token else "?limit=500"
        body = await world.request("GET", HELMRELEASE_PATH.format(namespace=NAMESPACE) + query)
        listed += len(body["items"])
        token = body["metadata"].get("continue", "")
        if not token:
            break
    if listed != releases:
        raise BenchError(f"listed {listed} HelmReleases, expected {releases}")
    return (
        f"the API server lists the {releases:,} HelmReleases in pages of 500 in "
        f"{time.monotonic() - started:.1f} s"
    )
