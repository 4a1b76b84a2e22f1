"""Scenario 12, edits during a bulk: values changes while a thousand first installs wait.

First READY (50) HelmReleases are installed and Ready, each in a namespace of its own.
Then BULK HelmReleases (1,000; quick run: 200) are created at once in the bench namespace:
first installs that keep the 4 workers busy. While they are being worked through, each
Ready release gets one values change (a merge PATCH of ``spec.values``), one at a time,
spread over the bulk: the i-th once i/50 of the bulk is Ready and the previous change's
helm has started (its new release record is written). Each change is timed as in
scenario 3, from the API server's audit log alone: from its PATCH to the first request of
the helm process it caused, the first request with helm's user agent in the release's own
namespace (a helm upgrade's second request, a millisecond after its first: only that helm
works there). The whole scenario runs twice, each on a fresh world: with the queue's two
lanes (the default ``--intent-share``), and without them (``--intent-share 0``: one FIFO
lane, as before lanes), where a change waits behind every first install queued before it,
and the next change is only sent once it has started. The reference is the operator's own
mean helm upgrade during the bulk: a change should start within one of them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apiserver.store import WatchEvent
from bench import latency
from bench.convergence import SECONDS_PER_RELEASE_LIMIT, VALUES
from bench.harness import (
    HELMRELEASE_PATH,
    SECRETS,
    World,
    is_ready,
    make_world,
    percentile,
    release_names,
    run_limited,
    run_operator,
)
from bench.report import Figure, Results
from testkit import OperatorProcess, Scrape, wait_for

SCENARIO = "12 edits during a bulk"
READY = 50
"""Releases installed first, each then changed once while the bulk is worked through."""
WORKERS = 4
TARGET_P99_MS = 1000.0
"""With lanes, a change's helm starts within about one helm upgrade of its PATCH (the time
a worker takes to come free, plus helm's own start-up), however long the bulk."""
MS = 1000.0
HELM_SECONDS = "helmrelease_helm_duration_seconds"
QUEUE_WAIT = "helmrelease_queue_wait_seconds"


@dataclass(frozen=True)
class Mode:
    """One way of running the operator: its name in the figures and its extra flags."""

    name: str
    flags: tuple[str, ...]


WITH_LANES = Mode("with lanes", ())
WITHOUT_LANES = Mode("without lanes", ("--intent-share", "0"))


@dataclass(frozen=True)
class Measured:
    latencies: list[float]
    """Seconds from each PATCH to the first request of the helm it caused."""
    during_bulk: int
    """Changes sent while first installs were still to be Ready."""
    bulk_seconds: float
    """From the first create of the bulk to its last release Ready."""
    helm_seconds: float
    """The operator's mean helm upgrade during the bulk (first installs and changes)."""
    intent_picks: float
    """Keys the operator took from its intent lane during the bulk."""


def _edited(index: int) -> tuple[str, str]:
    """(namespace, name) of the index-th Ready release that is changed."""
    return f"edit-{index:02d}", f"edited-{index:02d}"


class ReleaseRecords:
    """How many helm release records were created in each namespace, from the store."""

    def __init__(self) -> None:
        self.created: dict[str, int] = {}
        self.changed = asyncio.Event()

    def on_event(self, event: WatchEvent) -> None:
        metadata = event.obj.get("metadata", {})
        labels = metadata.get("labels") or {}
        if event.resource == SECRETS and event.type == "ADDED" and labels.get("owner") == "helm":
            namespace = metadata.get("namespace", "")
            self.created[namespace] = self.created.get(namespace, 0) + 1
            self.changed.set()

    async def wait_more(self, namespace: str, than: int, within: float) -> None:
        await wait_for(
            lambda: self.created.get(namespace, 0) > than,
            what=f"helm to start in {namespace}",
            within=within,
            changed=self.changed,
        )


def _ready_count(world: World, names: Iterable[str]) -> int:
    latest = world.helmreleases.latest
    return sum(1 for name in names if (obj := latest.get(name)) is not None and is_ready(obj))


def _at_least(world: World, names: Iterable[str], count: int) -> bool:
    return _ready_count(world, names) >= count


async def _install_ready(world: World, within: float) -> None:
    """The READY releases, each in its namespace, installed and Ready."""
    jobs = []
    for index in range(READY):
        namespace, name = _edited(index)
        await world.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        body = world.helmrelease(name, VALUES)
        body["metadata"]["namespace"] = namespace
        path = HELMRELEASE_PATH.format(namespace=namespace)
        jobs.append(functools.partial(world.request, "POST", path, body))
    await run_limited(jobs, 16)
    names = [_edited(index)[1] for index in range(READY)]
    await world.helmreleases.wait(
        lambda: _ready_count(world, names) == READY, within=within, what=f"{READY} Ready"
    )


async def _change(world: World, index: int) -> None:
    namespace, name = _edited(index)
    path = HELMRELEASE_PATH.format(namespace=namespace) + f"/{name}"
    body: dict[str, Any] = {"spec": {"values": {"ui": {"message": f"change {index}"}}}}
    await world.request("PATCH", path, body, "application/merge-patch+json")


def _mean(after: Scrape, before: Scrape, metric: str, **labels: str) -> float:
    count = after.total(f"{metric}_count", **labels) - before.total(f"{metric}_count", **labels)
    total = after.total(f"{metric}_sum", **labels) - before.total(f"{metric}_sum", **labels)
    return total / count if count else 0.0


async def _timed_change(world: World, records: ReleaseRecords, index: int, within: float) -> float:
    """Send the index-th change once the previous one started helm; seconds from its PATCH
    to the first request of the helm it caused."""
    namespace, name = _edited(index)
    audit_from = len(world.api.audit)
    created = records.created.get(namespace, 0)
    await _change(world, index)
    await records.wait_more(namespace, created, within)
    changes = latency.Changes(functools.partial(_change, world), "helmreleases", name, name)
    patched = latency.patch_time(world, audit_from, changes)
    return latency.first_helm_request(world, audit_from, patched, namespace) - patched


async def _during_bulk(world: World, operator: OperatorProcess, bulk: int) -> Measured:
    events = world.helmreleases
    bulk_names = release_names(bulk)
    deadline = 60.0 + bulk * SECONDS_PER_RELEASE_LIMIT
    records = ReleaseRecords()
    world.api.store.add_listener(records.on_event)
    try:
        before = await operator.metrics()
        started = time.monotonic()
        await world.create_helmreleases(bulk_names, VALUES)
        latencies, during_bulk = [], 0
        for index in range(READY):
            share = index * bulk // READY
            await events.wait(
                functools.partial(_at_least, world, bulk_names, share),
                within=deadline,
                what=f"{share} of the bulk Ready",
            )
            during_bulk += _ready_count(world, bulk_names) < bulk
            latencies.append(await _timed_change(world, records, index, deadline))
        await events.wait(
            functools.partial(_at_least, world, bulk_names, bulk),
            within=deadline,
            what=f"{bulk} first installs Ready",
        )
        bulk_seconds = time.monotonic() - started
        after = await operator.metrics()
    finally:
        world.api.store.remove_listener(records.on_event)
    intent = {"lane": "intent"}
    return Measured(
        latencies,
        during_bulk,
        bulk_seconds,
        _mean(after, before, HELM_SECONDS, command="upgrade"),
        after.total(f"{QUEUE_WAIT}_count", **intent)
        - before.total(f"{QUEUE_WAIT}_count", **intent),
    )


async def measure(workdir: Path, bulk: int, mode: Mode) -> Measured:
    tag = mode.name.replace(" ", "-")
    async with (
        make_world(workdir / tag) as world,
        run_operator(world, workers=WORKERS, tag=f"lanes-{tag}", extra=mode.flags) as operator,
    ):
        await _install_ready(world, 60.0 + READY * SECONDS_PER_RELEASE_LIMIT)
        measured = await _during_bulk(world, operator, bulk)
        names = [_edited(index)[1] for index in range(READY)]
        await world.helmreleases.wait(
            lambda: all(latency.applied(world.helmreleases, name, 2) for name in names),
            within=latency.CHANGE_DEADLINE,
            what=f"the {READY} changed releases Ready at revision 2",
        )
    return measured


async def run(results: Results, workdir: Path, bulk: int) -> None:
    runs = {mode: await measure(workdir, bulk, mode) for mode in (WITH_LANES, WITHOUT_LANES)}
    for mode, measured in runs.items():
        latencies = measured.latencies
        first_request = f"change to helm's first request, {{}}, {mode.name}"
        results.add(
            Figure(
                SCENARIO,
                first_request.format("p50"),
                percentile(latencies, 50) * MS,
                "ms",
                note=f"{len(latencies)} changes, {measured.during_bulk} sent while the "
                f"{bulk} first installs were not all Ready",
            ),
            Figure(
                SCENARIO,
                first_request.format("p99"),
                percentile(latencies, 99) * MS,
                "ms",
                target=TARGET_P99_MS if mode is WITH_LANES else None,
            ),
            Figure(SCENARIO, first_request.format("max"), max(latencies) * MS, "ms"),
            Figure(
                SCENARIO,
                f"{bulk} first installs: all Ready, {mode.name}",
                measured.bulk_seconds,
                "s",
                note=f"{measured.intent_picks:.0f} keys taken from the intent lane meanwhile",
            ),
            Figure(
                SCENARIO,
                f"helm upgrade during the bulk, mean, {mode.name}",
                measured.helm_seconds * MS,
                "ms",
                note="the operator's own helm_duration_seconds, for reference",
            ),
        )
