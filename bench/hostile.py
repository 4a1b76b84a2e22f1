"""Scenario 13, hostile tenants: how the operator and an unrelated release fare under attack.

One world and the operator with 4 workers and its default settings (a reconcile waits 5 s at
most for a chart fetch, then lets its worker go and goes on when the fetch ends). Created one
after the other, as ``kubectl apply`` of a list would: the attacks of the hostile-tenants
end-to-end test (``testkit.hostile``), three HelmReleases of a repository that never
answers, one of a repository whose index is some 10 MiB, one with values nested 150 deep,
one whose repository URL's host cannot be read; then an unrelated release of an ordinary
repository, timed from its POST to the store's write that shows it Ready. Once it is Ready,
its values are changed CHANGES (10) times, one at a time, as in scenario 3: a merge PATCH of
``spec.values``, the next one once it is Ready at the next revision. Each change is timed
from its PATCH, in the API server's audit log, to the store's write that shows the release
Ready at that revision (both on this process's clock). Then each attacked release is waited
for until it says what it is told to: Ready for the large index, waiting for its repository
for the silent ones, Stalled for the others. All along, from before the first create to
then, ``/healthz`` is asked every 20 ms by a client in a process of its own: its slowest
answer is a figure. At the end: whether the operator still runs, its peak RSS (VmHWM)
against its RSS before the attacks, and what each attacked release's conditions say (in a note).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from apiserver.store import WatchEvent
from bench import latency
from bench.harness import (
    HELMRELEASE_PATH,
    NAMESPACE,
    PROBE_EVERY,
    BenchError,
    World,
    make_world,
    percentile,
    probe,
    run_operator,
)
from bench.report import MIB, Figure, Results
from testkit import ChartRepository, OperatorProcess, Unmet
from testkit.hostile import BAD_URL, DEEP, LARGE, SLOW, NeverAnswers, attacks, large_repository

SCENARIO = "13 hostile tenants"
WORKERS = 4
CHANGES = 10
TARGET_HEALTHZ_SECONDS = 0.1
TARGET_CHANGE_SECONDS = 5.0
FIRST_READY_WITHIN = 120.0
"""Deadline of the unrelated release's first install and of the attacked releases' answers."""
TOLD: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(SLOW, ("Reconciling", "FetchingChart")),
    LARGE: ("Ready", None),
    DEEP: ("Stalled", None),
    BAD_URL: ("Stalled", None),
}
"""What each attacked release is waited for to say: a condition True (with this reason)."""


def _conditions(obj: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    status = obj.get("status") if obj is not None else None
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return [c for c in conditions or () if isinstance(c, Mapping)]


def _says(world: World, name: str) -> bool:
    kind, reason = TOLD[name]
    return any(
        c.get("type") == kind and c.get("status") == "True" and reason in (None, c.get("reason"))
        for c in _conditions(world.helmreleases.latest.get(name))
    )


def _said(world: World, name: str) -> str:
    """The release's Ready condition, and Stalled or Reconciling if True, with reasons."""
    said = [
        f"{c.get('type')} {c.get('status')} ({c.get('reason')})"
        for c in _conditions(world.helmreleases.latest.get(name))
        if c.get("type") == "Ready"
        or (c.get("type") in ("Stalled", "Reconciling") and c.get("status") == "True")
    ]
    return f"{name}: {', '.join(said) or 'no condition'}"


async def _attack(world: World, slow: str, large: str, name: str) -> float:
    """POST the attacks, then the unrelated release, one at a time as ``kubectl apply``;
    ``time.monotonic()`` before the unrelated release's POST."""
    path = HELMRELEASE_PATH.format(namespace=NAMESPACE)
    unrelated = world.helmrelease(name, {"replicaCount": 1})
    hostile = attacks(
        slow=slow,
        large=large,
        good=f"{world.repo.url}/",
        namespace=NAMESPACE,
        api_version=unrelated["apiVersion"],
    )
    for body in hostile:
        await world.request("POST", path, body)
    created = time.monotonic()
    await world.request("POST", path, unrelated)
    return created


class _ReadyAt:
    """A store listener: the time of the first write after which ``applied()`` holds (on
    the audit log's clock)."""

    def __init__(self, applied: Callable[[], bool]) -> None:
        self.applied = applied
        self.at: float | None = None

    def on_event(self, event: WatchEvent) -> None:
        if self.at is None and self.applied():
            self.at = time.time()

    def seen(self) -> bool:
        return self.at is not None


async def _timed_changes(world: World, changes: latency.Changes, count: int) -> list[float]:
    """Seconds from each PATCH to the write that shows the release Ready at its revision."""
    events = world.helmreleases
    name = changes.release
    seconds = []
    for change in range(count):
        current = latency.revision_of(events.latest.get(name))
        if current is None:
            raise BenchError(f"HelmRelease {name} has no status.lastReleaseRevision")
        expected = current + 1
        ready = _ReadyAt(functools.partial(latency.applied, events, name, expected))
        world.api.store.add_listener(ready.on_event)  # after the world's: latest is up to date
        try:
            audit_from = len(world.api.audit)
            await changes.make(change)
            await events.wait(
                ready.seen,
                within=latency.CHANGE_DEADLINE,
                what=f"revision {expected} of {name} Ready",
            )
        finally:
            world.api.store.remove_listener(ready.on_event)
        assert ready.at is not None
        seconds.append(ready.at - latency.patch_time(world, audit_from, changes))
    return seconds


async def _under_attack(world: World, slow: str, large: str) -> tuple[float, list[float]]:
    """Seconds from the unrelated release's creation to Ready, and of each of its changes."""
    events = world.helmreleases
    changes = latency.values_of(world)
    created = await _attack(world, slow, large, changes.release)
    await events.wait(
        lambda: changes.release in events.first_ready,
        within=FIRST_READY_WITHIN,
        what="the unrelated release Ready",
    )
    installed = events.first_ready[changes.release] - created
    seconds = await _timed_changes(world, changes, CHANGES)
    await events.wait(
        lambda: all(_says(world, name) for name in TOLD),
        within=FIRST_READY_WITHIN,
        what="every attacked release to say what it is told to",
    )
    return installed, seconds


def _still_running(operator: OperatorProcess) -> bool:
    try:
        operator.check_running()
    except Unmet:
        return False
    return True


async def run(results: Results, workdir: Path) -> None:
    root = workdir / "large-repository"
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(large_repository, root)
    index_mib = (await asyncio.to_thread((root / "index.yaml").stat)).st_size / MIB
    never = NeverAnswers()
    async with (
        make_world(workdir / "world") as world,
        ChartRepository() as silent,
        ChartRepository(root) as large,
        run_operator(world, workers=WORKERS, tag="hostile") as operator,
    ):
        silent.faults["/index.yaml"] = never
        before = (await operator.memory())["VmRSS"]
        probing = asyncio.Event()
        slowest = asyncio.create_task(probe(f"{operator.url}/healthz", probing))
        try:
            installed, seconds = await _under_attack(world, f"{silent.url}/", f"{large.url}/")
        finally:
            probing.set()
            never.release()
            try:
                worst = await slowest
            except BenchError:
                operator.check_running()  # says so, with its log, if the operator died
                raise
        running = _still_running(operator)
        memory = await operator.memory() if running else None
        said = "; ".join(_said(world, name) for name in TOLD)
    unrelated = f"{len(seconds)} values changes, one at a time, under the attacks"
    results.add(
        Figure(
            SCENARIO,
            "slowest /healthz answer during the attacks",
            worst,
            "s",
            target=TARGET_HEALTHZ_SECONDS,
            note=f"asked every {PROBE_EVERY * 1000:.0f} ms from before the first create "
            "until every attacked release had answered",
        ),
        Figure(
            SCENARIO,
            "unrelated release: created to Ready",
            installed,
            "s",
            note="its first install, created after the attacks",
        ),
        Figure(
            SCENARIO,
            "unrelated release: change to Ready at its new revision, p50",
            percentile(seconds, 50),
            "s",
            note=unrelated,
        ),
        Figure(
            SCENARIO,
            "unrelated release: change to Ready at its new revision, p99",
            percentile(seconds, 99),
            "s",
        ),
        Figure(
            SCENARIO,
            "unrelated release: change to Ready at its new revision, max",
            max(seconds),
            "s",
            target=TARGET_CHANGE_SECONDS,
        ),
        Figure(
            SCENARIO,
            "operator exits during the attacks",
            0 if running else 1,
            "count",
            target=0,
            note="its process checked at the end",
        ),
    )
    if memory is not None:
        results.add(
            Figure(
                SCENARIO,
                "operator peak RSS under the attacks",
                memory["VmHWM"] / MIB,
                "MiB",
                note=f"index of {index_mib:.1f} MiB among the attacks; RSS {before / MIB:.0f} "
                f"MiB before, {memory['VmRSS'] / MIB:.0f} MiB after",
            )
        )
    results.note(f"{SCENARIO}: what each attacked release says at the end: {said}.")
