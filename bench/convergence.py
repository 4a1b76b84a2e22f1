"""Scenario 1, convergence vs the physical floor: N HelmReleases created at once, W workers.

The operator run creates N HelmReleases of podinfo (chart from the loopback
repository) and times until every one is Ready, from the store's own events. The
baseline installs the same N releases with bare ``helm upgrade --install`` processes
run W at a time by ``xargs -P`` (a process of its own, as the operator is), with the
same flags and values, from the chart's tarball on disk (the operator caches the tarball
too); a release is done when its helm exits. Each run gets a fresh API server. The
figure is the median over the rounds of a run of each round's ratio operator / baseline.
The API server's CPU is read in both runs (it serves helm in both, and the operator's
own requests and watches in the operator's): on two cores it competes with helm.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    HELM_USER_AGENT,
    World,
    helm_env,
    install_in_parallel,
    make_world,
    release_names,
    write_values,
)
from bench.report import Curve, Figure, Results
from testkit import OperatorProcess, Scrape

SCENARIO = "1 convergence"
VALUES = {"ui": {"message": "bench"}}
"""The values of every release (the latency scenario changes them)."""
TARGET_RATIO = 1.03
CPU_PER_RELEASE_TARGET = 3.0
"""Milliseconds of the operator's own CPU per release converged."""
SECONDS_PER_RELEASE_LIMIT = 3.0
"""Deadline of a run: generous next to the ~0.25 s one release takes on 2 cores."""


@dataclass(frozen=True)
class Run:
    """One convergence measurement: N releases, W workers, repeated in alternating rounds.

    On a shared machine one pair of runs can differ by a fifth from the next; rounds of
    baseline then operator, and their median, even that out.
    """

    releases: int
    workers: int
    rounds: int = 1

    def name(self, round_: int | None = None) -> str:
        suffix = f" #{round_}" if round_ is not None and self.rounds > 1 else ""
        return f"N={self.releases} W={self.workers}{suffix}"

    def tag(self, round_: int) -> str:
        return f"{self.releases}-w{self.workers}-{round_}"

    @property
    def deadline(self) -> float:
        return 60.0 + self.releases * SECONDS_PER_RELEASE_LIMIT


async def baseline(results: Results, workdir: Path, run: Run, round_: int) -> float:
    """Bare helm: seconds until all releases are installed."""
    releases, workers = run.releases, run.workers
    async with make_world(workdir) as world:
        values = await write_values(workdir / "values.yaml", VALUES)
        names = release_names(releases)
        server_cpu = time.process_time()
        installed = await install_in_parallel(
            names, values, workers, helm_env(world), workdir / "helm-errors.log", run.deadline
        )
        server_cpu = time.process_time() - server_cpu
        requests = _helm_requests(world) / releases
    ready_at = tuple(installed.finished.values())
    durations = list(installed.durations.values())
    results.curves.append(
        Curve(f"baseline {run.name(round_)}", releases, workers, "baseline", round_, ready_at)
    )
    seconds = max(ready_at)
    mean = sum(durations) / len(durations)
    results.add(
        Figure(
            SCENARIO,
            f"baseline {run.name(round_)}: all installed",
            seconds,
            "s",
            note=_helm_note(mean, requests),
        ),
        _server_cpu(f"baseline {run.name(round_)}", server_cpu, releases),
    )
    return seconds


def _server_cpu(run: str, seconds: float, releases: int) -> Figure:
    return Figure(
        SCENARIO,
        f"{run}: API server CPU",
        seconds / releases * 1000,
        "ms",
        note=f"per release, {seconds:.1f} s in all (this process, with the bench's own work)",
    )


def _helm_requests(world: World) -> int:
    return sum(1 for record in world.api.audit if HELM_USER_AGENT in record.user_agent)


def _helm_note(mean_duration: float, requests_per_release: float) -> str:
    return (
        f"helm upgrade took {mean_duration:.2f} s on average and sent "
        f"{requests_per_release:.1f} API requests per release"
    )


async def converge(
    results: Results, world: World, operator: OperatorProcess, run: Run, round_: int
) -> float:
    """The operator (already running on ``world``): seconds until all N are Ready."""
    releases, name = run.releases, run.name(round_)
    events = world.helmreleases
    events.reset_ready()
    cpu = await operator.cpu_seconds()
    server_cpu = time.process_time()
    started = time.monotonic()
    await world.create_helmreleases(release_names(releases), VALUES)
    created = time.monotonic() - started
    await events.wait(
        lambda: len(events.first_ready) >= releases,
        within=run.deadline,
        what=f"{releases} HelmReleases Ready",
    )
    ready_at = tuple(t - started for t in events.first_ready.values())
    server_cpu = time.process_time() - server_cpu
    cpu = await operator.cpu_seconds() - cpu
    samples = await operator.metrics()
    helm_seconds = samples.total("helmrelease_helm_duration_seconds_sum", command="upgrade")
    helm_count = samples.total("helmrelease_helm_duration_seconds_count", command="upgrade")
    requests = _helm_requests(world) / releases
    results.curves.append(
        Curve(f"operator {name}", releases, run.workers, "operator", round_, ready_at)
    )
    seconds = max(ready_at)
    results.add(
        Figure(
            SCENARIO,
            f"operator {name}: all Ready",
            seconds,
            "s",
            note=f"{_helm_note(helm_seconds / max(helm_count, 1), requests)}; "
            f"creating the HelmReleases took {created:.1f} s",
        ),
        Figure(
            SCENARIO,
            f"operator {name}: its own CPU per release",
            cpu / releases * 1000,
            "ms",
            target=CPU_PER_RELEASE_TARGET,
            note=f"{cpu:.2f} s in all, helm's not counted",
        ),
        _server_cpu(f"operator {name}", server_cpu, releases),
        Figure(
            SCENARIO,
            f"operator {name}: reconciles",
            samples.total("helmrelease_reconcile_total"),
            "count",
            note=_by_label(samples, "helmrelease_reconcile_total", "result"),
        ),
        Figure(
            SCENARIO,
            f"operator {name}: helm processes",
            samples.total("helmrelease_helm_processes_started_total"),
            "count",
            note=_by_label(samples, "helmrelease_helm_processes_started_total", "command"),
        ),
    )
    return seconds


def _by_label(samples: Scrape, name: str, label: str) -> str:
    """``value count, ...`` of one counter split by one label."""
    counts: dict[str, float] = {}
    for sample in samples.samples:
        if sample.name == name:
            key = sample.labels.get(label, "")
            counts[key] = counts.get(key, 0.0) + sample.value
    return ", ".join(f"{key} {value:.0f}" for key, value in sorted(counts.items()) if value)


def ratio(results: Results, run: Run, timings: list[tuple[float, float]]) -> None:
    """The figure of a Run: the median of its rounds' ratios operator / baseline."""
    ratios = [operator / bare for operator, bare in timings]
    rounds = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    results.add(
        Figure(
            SCENARIO,
            f"operator / baseline, {run.name()}",
            statistics.median(ratios),
            "x",
            target=TARGET_RATIO,
            note=f"median of {len(timings)} rounds: {rounds}" if len(timings) > 1 else "",
        )
    )
