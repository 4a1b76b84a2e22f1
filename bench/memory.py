"""Scenario 4, memory: the operator's peak RSS (VmHWM, its own process, not helm's).

Read after the convergence of N releases, after a restarted operator relisted them in
sync, and with 10,000 HelmReleases in sync, made from one real install as
``bench.insync`` tells; a fresh operator relists them all and must find every one in
sync without starting helm, which is checked.
"""

from __future__ import annotations

from pathlib import Path

from bench.harness import HELM_STARTED, RECONCILES, make_world, run_operator, wait_reconciled
from bench.insync import make_in_sync
from bench.report import MIB, Figure, Results
from bench.resync import helm_processes
from testkit import OperatorProcess

SCENARIO = "4 memory"
TARGET_MIB_1000 = 150.0
TARGET_MIB_10000 = 400.0
WORKERS = 4
SECONDS_PER_RELEASE_LIMIT = 0.1


def target_for(releases: int) -> float:
    return TARGET_MIB_1000 if releases <= 1000 else TARGET_MIB_10000


async def peak(
    results: Results, operator: OperatorProcess, when: str, target: float | None
) -> None:
    memory = await operator.memory()
    results.add(
        Figure(
            SCENARIO,
            f"operator peak RSS, {when}",
            memory["VmHWM"] / MIB,
            "MiB",
            target=target,
            note=f"RSS now {memory['VmRSS'] / MIB:.0f} MiB",
        )
    )


async def large(results: Results, workdir: Path, releases: int) -> None:
    async with make_world(workdir) as world:
        results.note(f"4 memory: {await make_in_sync(world, releases)}")
        async with run_operator(world, workers=WORKERS, tag="large") as operator:
            reconciled = await wait_reconciled(
                operator, releases, within=120 + releases * SECONDS_PER_RELEASE_LIMIT
            )
            elapsed, cpu, samples = reconciled.seconds, reconciled.cpu, reconciled.samples
            await peak(results, operator, f"N={releases:,} in sync", TARGET_MIB_10000)
    started = helm_processes(
        samples.total(HELM_STARTED),
        samples.total(HELM_STARTED, command="version"),
    )
    noops = samples.total(RECONCILES, result="noop")
    reconciles = samples.total(RECONCILES)
    results.add(
        Figure(
            SCENARIO,
            f"helm processes started, N={releases:,} in sync",
            started,
            "count",
            target=0,
            note=f"{reconciles:.0f} reconciles of {releases:,} releases, {noops:.0f} no-ops",
        ),
        Figure(
            SCENARIO,
            f"process start to all reconciled, N={releases:,}",
            elapsed,
            "s",
            note=f"{cpu:.1f} s CPU",
        ),
    )
