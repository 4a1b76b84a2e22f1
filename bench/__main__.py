"""``python -m bench [--quick] [--scale N]``: run the scenarios, write JSON, Markdown, a plot.

Order: the emulator alone (6); then for every (N, W) of the plan, in one or more
rounds, the bare-helm baseline and the operator (1). The last operator run is kept for
the follow-ups: chart fetch figures (5) and peak memory while converging (4) from that
process; then a restarted operator relists the N releases in sync (2: helm processes,
CPU; 4: memory) and reacts to value changes one at a time (3). Then value changes while
a thousand first installs are worked through, with the queue's lanes and without (12).
Then N releases reading one ConfigMap: one edit of it, and memory with unrelated Secrets
(7); N releases of one chart from git, four polls (8), and of one chart from an OCI
registry (9); N releases under drift detection (10); one release from a 50 MiB repository
index (11); hostile tenants while an unrelated release is changed (13). Last, 10,000
HelmReleases in sync (4, full run only). A group of scenarios that fails is reported in
the notes; the other groups still run, and the exit status is 1.

``python -m bench compare A.json B.json`` prints the figures two runs share, with B / A.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench import (
    chartfetch,
    compare,
    convergence,
    drift,
    emulator,
    gitfetch,
    hostile,
    lanes,
    largeindex,
    latency,
    memory,
    ocifetch,
    resync,
    scale,
    sources,
)
from bench.harness import BenchError, World, machine, make_world, run_operator
from bench.report import Results, markdown, write
from testkit import ROOT, OperatorProcess, Unmet

GROUPS = ("emulator", "operator", "lanes", "sources", "git", "drift", "index", "hostile", "memory")
SCENARIOS: dict[str, tuple[ModuleType, ...]] = {
    "emulator": (emulator,),
    "operator": (convergence, resync, latency, memory, chartfetch),
    "lanes": (lanes,),
    "sources": (sources,),
    "git": (gitfetch, ocifetch),
    "drift": (drift,),
    "index": (largeindex,),
    "hostile": (hostile,),
    "memory": (memory,),
    "scale": (scale,),
}
MATRIX = ((100, 4), (100, 8), (1000, 4), (1000, 8))
"""Every (releases, workers) the convergence scenario asks for; a plan runs what fits."""


@dataclass(frozen=True)
class Plan:
    convergence: tuple[convergence.Run, ...]
    """The convergence runs; the last round of the last one is kept for the follow-ups."""
    latency_changes: int
    lanes_bulk: int
    """First installs created at once while Ready releases are changed (scenario 12)."""
    sources: int
    """HelmReleases reading one ConfigMap in the values-from-sources scenario."""
    git: int
    """Releases of one chart in the git and OCI scenarios."""
    drift: int
    """Releases under drift detection in the drift scenario."""
    memory_large: int | None
    """HelmReleases of the large in-sync memory run; None skips it."""
    emulator: emulator.Plan


QUICK = Plan(
    convergence=(convergence.Run(100, 4, rounds=2),),
    latency_changes=50,
    lanes_bulk=200,
    sources=100,
    git=100,
    drift=100,
    memory_large=None,
    emulator=emulator.QUICK,
)
FULL = Plan(
    convergence=(
        convergence.Run(100, 4, rounds=2),
        convergence.Run(100, 8, rounds=2),
        convergence.Run(1000, 4, rounds=3),
        convergence.Run(1000, 8, rounds=3),
    ),
    latency_changes=200,
    lanes_bulk=1000,
    sources=1000,
    git=1000,
    drift=1000,
    memory_large=10_000,
    emulator=emulator.FULL,
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short run (under 3 minutes)")
    parser.add_argument(
        "--only",
        choices=(*GROUPS, "scale"),
        action="append",
        help="run only these groups (repeatable; scale needs --scale)",
    )
    parser.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="also run scenario 14 with N HelmReleases in sync (minutes at 100,000)",
    )
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench" / "results", help="output directory"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep API server kubeconfigs and operator logs here"
    )
    args = parser.parse_args(argv)
    if "scale" in (args.only or ()) and not args.scale:
        parser.error("--only scale needs --scale N")
    return args


async def operator_group(results: Results, workdir: Path, plan: Plan) -> None:
    kept = plan.convergence[-1]
    round_seconds = 0.0
    for run in plan.convergence:
        timings = []
        for round_ in range(1, run.rounds + 1):
            started = time.monotonic()
            async with converged(results, workdir, run, round_) as (world, operator, timing):
                timings.append(timing)
                round_seconds = time.monotonic() - started
                if run is kept and round_ == run.rounds:
                    await chartfetch.measure(results, world, operator, run.releases)
                    await memory.peak(results, operator, f"converging N={run.releases}", None)
                    await operator.stop()
                    await follow_ups(results, workdir, world, run, plan.latency_changes)
        convergence.ratio(results, run, timings)
    skipped = [
        f"N={n} W={w}"
        for n, w in MATRIX
        if not any((run.releases, run.workers) == (n, w) for run in plan.convergence)
    ]
    if skipped:
        results.note(
            f"1 convergence: {', '.join(skipped)} not run, to keep this run within its time "
            f"budget on two cores (one round of {kept.name()}, baseline and operator, took "
            f"{round_seconds:.0f} s)."
        )


@contextlib.asynccontextmanager
async def converged(
    results: Results, workdir: Path, run: convergence.Run, round_: int
) -> AsyncIterator[tuple[World, OperatorProcess, tuple[float, float]]]:
    """One round: the baseline, then the operator converging on a fresh world.

    Yields that world with the operator still running, and (operator seconds, baseline
    seconds).
    """
    tag = run.tag(round_)
    bare = await convergence.baseline(results, workdir / f"baseline-{tag}", run, round_)
    async with (
        make_world(workdir / f"operator-{tag}") as world,
        run_operator(world, workers=run.workers, tag="converge") as operator,
    ):
        seconds = await convergence.converge(results, world, operator, run, round_)
        yield world, operator, (seconds, bare)


async def follow_ups(
    results: Results, workdir: Path, world: World, run: convergence.Run, changes: int
) -> None:
    """On converged releases: a restarted operator's resync, memory, then reaction latency."""
    idle = await resync.idle_startup_cpu(workdir / "idle")
    audit_from = len(world.api.audit)
    async with run_operator(world, workers=run.workers, tag="restart") as operator:
        await resync.measure(results, world, operator, run.releases, audit_from, idle)
        target = memory.target_for(run.releases)
        await memory.peak(results, operator, f"N={run.releases} in sync", target)
        latencies = await latency.measure(world, latency.values_of(world), changes)
    latency.report(results, latencies, await latency.helm_floor(world))


async def git_group(results: Results, workdir: Path, releases: int) -> None:
    """Charts from git (8) and from an OCI registry (9), N releases of one chart each."""
    await gitfetch.run(results, workdir / "git", releases)
    await ocifetch.run(results, workdir / "oci", releases)


async def memory_group(results: Results, workdir: Path, plan: Plan) -> None:
    if plan.memory_large is None:
        results.note("4 memory: the 10,000 HelmRelease run is skipped in the quick run.")
        return
    await memory.large(results, workdir / "memory-large", plan.memory_large)


def selected_groups(args: argparse.Namespace) -> list[str]:
    """``--only``'s groups (all but scale by default), and scale with ``--scale``."""
    chosen = [name for name in args.only or GROUPS if name != "scale"]
    return [*chosen, "scale"] if args.scale else chosen


def method(module: ModuleType) -> str:
    """A scenario module's docstring as one paragraph."""
    return " ".join((module.__doc__ or "").split())


async def run_group(results: Results, name: str, group: Callable[[], Awaitable[None]]) -> bool:
    for module in SCENARIOS[name]:
        results.methods[module.SCENARIO] = method(module)
    started = time.monotonic()
    print(f"== {name}", file=sys.stderr, flush=True)
    try:
        await group()
    except (BenchError, Unmet) as error:
        results.note(f"{name}: not measured: {error}")
        print(f"== {name} failed: {error}", file=sys.stderr, flush=True)
        return False
    print(f"== {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return True


@contextlib.asynccontextmanager
async def workdir_for(args: argparse.Namespace) -> AsyncIterator[Path]:
    if args.workdir is not None:
        await asyncio.to_thread(args.workdir.mkdir, parents=True, exist_ok=True)
        yield args.workdir
        return
    temporary = await asyncio.to_thread(tempfile.TemporaryDirectory, prefix="helmrelease-bench-")
    try:
        yield Path(temporary.name)
    finally:
        await asyncio.to_thread(temporary.cleanup)


async def main(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    results = Results(
        machine=await machine(), started=now.isoformat(timespec="seconds"), quick=args.quick
    )
    results.plan = dataclasses.asdict(plan)
    started = time.monotonic()
    groups = {
        "emulator": lambda work: emulator.run(results, work / "emulator", plan.emulator),
        "operator": lambda work: operator_group(results, work, plan),
        "lanes": lambda work: lanes.run(results, work / "lanes", plan.lanes_bulk),
        "sources": lambda work: sources.run(
            results, work / "sources", plan.sources, plan.latency_changes
        ),
        "git": lambda work: git_group(results, work, plan.git),
        "drift": lambda work: drift.run(results, work / "drift", plan.drift),
        "index": lambda work: largeindex.run(results, work / "large-index"),
        "hostile": lambda work: hostile.run(results, work / "hostile"),
        "memory": lambda work: memory_group(results, work, plan),
        "scale": lambda work: scale.run(results, work / "scale", args.scale),
    }
    ok = True
    async with workdir_for(args) as work:
        for name in selected_groups(args):
            ok = await run_group(results, name, functools.partial(groups[name], work)) and ok
    results.duration = time.monotonic() - started
    summary = await write(results, args.results, stamp)
    print(markdown(results))
    print(f"written: {summary} (+ .json, .png)", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["compare"]:
        sys.exit(compare.main(sys.argv[2:]))
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
