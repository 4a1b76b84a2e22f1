"""Scenario 7, values from sources: N HelmReleases read one ConfigMap.

Every release takes its values only from ``spec.valuesFrom`` (one ConfigMap holding a
``values.yaml`` document for podinfo). Once all N are Ready, the ConfigMap is edited
once: each release must be upgraded exactly once (revision 2), and no other helm process
may start, counted by the operator's own metric; requests with helm's user agent in the
API server's audit log are counted too. The time is from the edit to the store event
that made the last release Ready at revision 2. Then, with the N readers idle, the
reaction time as in scenario 3: another release reads a ConfigMap of its own, edited one
change at a time; each edit is timed from its PATCH to the first request of the helm
process it caused, both read from the API server's audit log. Then memory: a restarted operator
relists the N releases in sync and its peak RSS (VmHWM) is read once it has counted N
reconciles; the same is done again after 10,000 unrelated Secrets of 10 KiB each were
written straight into the API server's store before the operator started, so its list
sees them. The operator watches Secrets by metadata only and keeps only those a
release reads, so they should cost it little memory.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from pathlib import Path
from typing import Any

import yaml

from bench import latency
from bench.harness import (
    HELM_STARTED,
    HELM_USER_AGENT,
    NAMESPACE,
    SECRETS,
    BenchError,
    World,
    make_world,
    release_names,
    run_limited,
    run_operator,
    wait_reconciled,
)
from bench.memory import target_for
from bench.report import MIB, Figure, Results
from bench.resync import helm_processes
from testkit import Scrape

SCENARIO = "7 values from sources"
CONFIG_MAP = "podinfo-values"
VALUES_KEY = "values.yaml"
WORKERS = 4
UNRELATED_SECRETS = 10_000
SECRET_BYTES = 10 * 1024
TARGET_UPGRADES_PER_RELEASE = 1.0
TARGET_MEMORY_RATIO = 1.10
SECONDS_PER_RELEASE_LIMIT = 3.0
"""Deadline of the install and of the upgrade: as generous as convergence's."""
SETTLE_SECONDS = 2.0
"""How long the operator is watched after the last upgrade for any further helm."""
CONFIG_MAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
HELMRELEASES = f"/apis/flux.weave.works/v1beta1/namespaces/{NAMESPACE}/helmreleases"
REACTION_READER = "reaction-reader"
REACTION_CONFIG_MAP = "reaction-values"


def _data(message: str) -> dict[str, str]:
    return {VALUES_KEY: yaml.safe_dump({"ui": {"message": message}})}


def _config_map(name: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": _data(message),
    }


def _helmrelease(world: World, name: str, config_map: str = CONFIG_MAP) -> dict[str, Any]:
    obj = world.helmrelease(name, {})
    spec = obj["spec"]
    del spec["values"]
    spec["valuesFrom"] = [{"configMapKeyRef": {"name": config_map, "key": VALUES_KEY}}]
    return obj


async def _edit(world: World, name: str, message: str) -> None:
    await world.request(
        "PATCH", f"{CONFIG_MAPS}/{name}", {"data": _data(message)}, "application/merge-patch+json"
    )


def _all_at(world: World, names: list[str], revision: int) -> bool:
    return all(latency.applied(world.helmreleases, name, revision) for name in names)


def _started(samples: Scrape) -> tuple[float, float]:
    """(helm processes acting on releases, of which upgrades) so far."""
    total = helm_processes(
        samples.total(HELM_STARTED), samples.total(HELM_STARTED, command="version")
    )
    return total, samples.total(HELM_STARTED, command="upgrade")


async def run(results: Results, workdir: Path, releases: int, changes: int) -> None:
    async with make_world(workdir) as world:
        await edit(results, world, releases, changes)
        await memory(results, world, releases)


async def edit(results: Results, world: World, releases: int, changes: int) -> None:
    """Install N readers, edit their ConfigMap once, count the upgrades it caused; then,
    with them idle, the reaction time to edits of another reader's own ConfigMap."""
    names = release_names(releases)
    deadline = 60 + releases * SECONDS_PER_RELEASE_LIMIT
    await world.request("POST", CONFIG_MAPS, _config_map(CONFIG_MAP, "bench"))
    async with run_operator(world, workers=WORKERS, tag="sources") as operator:
        started = time.monotonic()
        await run_limited(
            [
                functools.partial(world.request, "POST", HELMRELEASES, _helmrelease(world, name))
                for name in names
            ],
            16,
        )
        await world.helmreleases.wait(
            lambda: _all_at(world, names, 1), within=deadline, what=f"{releases} releases Ready"
        )
        installed = time.monotonic() - started
        before = await operator.metrics()
        audit_from = len(world.api.audit)
        edited = time.monotonic()
        await _edit(world, CONFIG_MAP, "bench, edited")
        await world.helmreleases.wait(
            lambda: _all_at(world, names, 2),
            within=deadline,
            what=f"{releases} releases upgraded after the ConfigMap edit",
        )
        seconds = time.monotonic() - edited
        await asyncio.sleep(SETTLE_SECONDS)
        after = await operator.metrics()
        latencies = await _reaction(world, changes)
    floors = await latency.helm_floor(world)
    helm_requests = sum(
        1 for record in world.api.audit[audit_from:] if HELM_USER_AGENT in record.user_agent
    )
    total_before, upgrades_before = _started(before)
    total_after, upgrades_after = _started(after)
    upgrades = upgrades_after - upgrades_before
    others = (total_after - total_before) - upgrades
    revisions = [latency.revision_of(world.helmreleases.latest.get(name)) for name in names]
    beyond = sum(1 for revision in revisions if revision != 2)
    results.add(
        Figure(
            SCENARIO,
            f"N={releases} readers of one ConfigMap: edit to all upgraded",
            seconds,
            "s",
            note=f"installing them took {installed:.1f} s",
        ),
        Figure(
            SCENARIO,
            f"helm upgrades per release after one ConfigMap edit, N={releases}",
            upgrades / releases,
            "x",
            target=TARGET_UPGRADES_PER_RELEASE,
            note=(
                f"{upgrades:.0f} upgrades; {releases - beyond} of {releases} releases at "
                f"revision 2; {helm_requests / max(upgrades, 1):.1f} requests with helm's "
                "user agent per upgrade (API server audit log)"
            ),
        ),
        Figure(
            SCENARIO,
            f"other helm processes after the edit, N={releases}",
            others,
            "count",
            target=0,
            note=f"watched {SETTLE_SECONDS:.0f} s past the last upgrade",
        ),
    )
    latency.report(results, latencies, floors, SCENARIO, "ConfigMap edit")
    if beyond:
        raise BenchError(f"{beyond} of {releases} releases are not at revision 2")


async def _reaction(world: World, count: int) -> list[float]:
    """Seconds from each edit of a ConfigMap read by one release to its helm's first
    request, one edit at a time, with the N other readers in sync."""
    await world.request("POST", CONFIG_MAPS, _config_map(REACTION_CONFIG_MAP, "edit -1"))
    await world.request(
        "POST", HELMRELEASES, _helmrelease(world, REACTION_READER, REACTION_CONFIG_MAP)
    )
    await world.helmreleases.wait(
        lambda: _all_at(world, [REACTION_READER], 1),
        within=latency.CHANGE_DEADLINE,
        what=f"{REACTION_READER} Ready",
    )

    async def make(change: int) -> None:
        await _edit(world, REACTION_CONFIG_MAP, f"edit {change}")

    changes = latency.Changes(make, "configmaps", REACTION_CONFIG_MAP, REACTION_READER)
    return await latency.measure(world, changes, count)


def _store_unrelated_secrets(world: World, count: int) -> None:
    """Secrets no release reads, written into the store on the event loop (the store is
    not thread-safe; the operator is stopped)."""
    blob = base64.b64encode(bytes(range(256)) * (SECRET_BYTES // 256)).decode()
    store = world.api.store
    for i in range(count):
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": f"unrelated-{i:05d}", "namespace": NAMESPACE},
            "data": {"blob": blob},
        }
        store.create(SECRETS, secret, {})


async def _in_sync(world: World, releases: int, tag: str) -> tuple[dict[str, int], float]:
    """A restarted operator's (VmHWM, VmRSS) once it has reconciled N releases in sync,
    and the helm processes it started meanwhile."""
    async with run_operator(world, workers=WORKERS, tag=tag) as operator:
        reconciled = await wait_reconciled(
            operator, releases, within=60 + releases * SECONDS_PER_RELEASE_LIMIT
        )
        figures = await operator.memory()
    started, _ = _started(reconciled.samples)
    return figures, started


async def memory(results: Results, world: World, releases: int) -> None:
    """Peak RSS in sync without, then with, 10,000 unrelated Secrets of 10 KiB."""
    without, started_without = await _in_sync(world, releases, "sources-bare")
    made = time.monotonic()
    _store_unrelated_secrets(world, UNRELATED_SECRETS)
    made = time.monotonic() - made
    with_, started_with = await _in_sync(world, releases, "sources-secrets")
    secrets = f"{UNRELATED_SECRETS:,} unrelated Secrets of {SECRET_BYTES // 1024} KiB"
    results.add(
        Figure(
            SCENARIO,
            f"operator peak RSS, N={releases} readers in sync",
            without["VmHWM"] / MIB,
            "MiB",
            target=target_for(releases),
            note=f"RSS now {without['VmRSS'] / MIB:.0f} MiB; {started_without:.0f} helm processes",
        ),
        Figure(
            SCENARIO,
            f"operator peak RSS, N={releases} readers in sync, with {secrets}",
            with_["VmHWM"] / MIB,
            "MiB",
            target=target_for(releases),
            note=(
                f"RSS now {with_['VmRSS'] / MIB:.0f} MiB; {started_with:.0f} helm processes; "
                f"the Secrets were written into the store in {made:.1f} s"
            ),
        ),
        Figure(
            SCENARIO,
            f"peak RSS with / without {secrets}, N={releases}",
            with_["VmHWM"] / without["VmHWM"],
            "x",
            target=TARGET_MEMORY_RATIO,
            note=f"RSS now: {with_['VmRSS'] / without['VmRSS']:.2f}x",
        ),
    )
