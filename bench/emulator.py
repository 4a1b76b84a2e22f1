"""Scenario 6, emulator headroom: the in-memory API server alone, to show it is not the bottleneck.

Three measures on a fresh server: the helm install mix (K concurrent ``helm upgrade
--install`` + ``helm uninstall`` cycles; audited requests per second, and the server's
own CPU per request, hence what one core could serve); the time to LIST 10,000
ConfigMaps; and a watch event fanned out to 100 watchers (time until the last one has
it, one event at a time, and the delivery rate of a burst).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from apiserver.resources import GroupResource
from bench.harness import (
    NAMESPACE,
    REQUEST_TIMEOUT,
    USER_AGENT,
    BenchError,
    World,
    helm_env,
    helm_upgrade_args,
    make_world,
    run_helm,
    run_limited,
    write_values,
)
from bench.report import Figure, Results
from testkit import wait_for

SCENARIO = "6 emulator"
CONFIGMAPS = GroupResource("", "configmaps")
LIST_NAMESPACE = "list-bench"
WATCH_NAMESPACE = "watch-bench"
LIST_OBJECTS = 10_000
LIST_REPEATS = 3
WATCHERS = 100
FANOUT_EVENTS = 50
BURST_EVENTS = 200
DELIVERY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Plan:
    helm_cycles: int
    helm_concurrency: int


FULL = Plan(helm_cycles=32, helm_concurrency=8)
QUICK = Plan(helm_cycles=12, helm_concurrency=4)


async def run(results: Results, workdir: Path, plan: Plan) -> None:
    async with make_world(workdir) as world:
        await _helm_mix(results, world, plan)
        await _list(results, world)
        await _fanout(results, world)


async def _helm_mix(results: Results, world: World, plan: Plan) -> None:
    env = helm_env(world)
    values = await write_values(world.workdir / "mix-values.yaml", {"replicaCount": 1})

    def cycle(i: int) -> Callable[[], Awaitable[None]]:
        async def install_uninstall() -> None:
            name = f"mix-{i:03d}"
            await run_helm(helm_upgrade_args(name, values), env)
            await run_helm(["uninstall", name, "--namespace", NAMESPACE], env)

        return install_uninstall

    before = len(world.api.audit)
    cpu, wall = time.process_time(), time.monotonic()
    await run_limited([cycle(i) for i in range(plan.helm_cycles)], plan.helm_concurrency)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    requests = len(world.api.audit) - before
    # The server shares this process with the bench's helm runner, whose share is small:
    # counting all of it overstates the server's cost per request.
    per_request = cpu / requests
    mix = f"{plan.helm_concurrency} concurrent helm, {plan.helm_cycles} install+uninstall"
    results.add(
        Figure(SCENARIO, "API requests served, helm install mix", requests, "count", note=mix),
        Figure(SCENARIO, "request rate during the helm mix", requests / wall, "req/s"),
        Figure(SCENARIO, "server CPU per request", per_request * 1000, "ms"),
        Figure(SCENARIO, "server capacity per core at that cost", 1 / per_request, "req/s"),
    )


async def _create_namespace(world: World, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    await world.request("POST", "/api/v1/namespaces", body)


def _configmap(namespace: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


async def _list(results: Results, world: World) -> None:
    await _create_namespace(world, LIST_NAMESPACE)
    for i in range(LIST_OBJECTS):  # straight into the store: the LIST is what is measured
        name = f"cm-{i:05d}"
        world.api.store.create(CONFIGMAPS, _configmap(LIST_NAMESPACE, name, {"key": name}), {})
    url = f"{world.api.url}/api/v1/namespaces/{LIST_NAMESPACE}/configmaps"
    durations, size = [], 0
    for _ in range(LIST_REPEATS):
        started = time.monotonic()
        async with world.session.get(url) as response:
            body = await response.read()
        items = len(json.loads(body)["items"])
        durations.append(time.monotonic() - started)
        size = len(body)
        if items != LIST_OBJECTS:
            raise BenchError(f"LIST returned {items} ConfigMaps, not {LIST_OBJECTS}")
    results.add(
        Figure(
            SCENARIO,
            f"LIST of {LIST_OBJECTS:,} ConfigMaps",
            statistics.median(durations) * 1000,
            "ms",
            note=f"median of {LIST_REPEATS}, {size / 1e6:.1f} MB, parsed by the client",
        )
    )


class _FanOut:
    """Counts, per resourceVersion, how many watchers have received the event."""

    def __init__(self, watchers: int) -> None:
        self.watchers = watchers
        self.received: dict[str, int] = {}
        self.complete: dict[str, float] = {}
        self.changed = asyncio.Event()

    def got(self, rv: str) -> None:
        count = self.received.get(rv, 0) + 1
        self.received[rv] = count
        if count == self.watchers:
            self.complete[rv] = time.monotonic()
            self.changed.set()

    async def wait_all(self, rvs: list[str]) -> None:
        await wait_for(
            lambda: all(rv in self.complete for rv in rvs),
            what=f"{len(rvs)} events at all {self.watchers} watchers",
            within=DELIVERY_TIMEOUT,
            changed=self.changed,
        )


async def _watch(session: aiohttp.ClientSession, url: str, fanout: _FanOut) -> None:
    async with session.get(url) as response:
        if response.status != 200:
            raise BenchError(f"watch failed: {response.status}")
        async for line in response.content:
            event = json.loads(line)
            if event["type"] == "MODIFIED":
                fanout.got(event["object"]["metadata"]["resourceVersion"])


async def _fanout(results: Results, world: World) -> None:
    await _create_namespace(world, WATCH_NAMESPACE)
    store = world.api.store
    store.create(CONFIGMAPS, _configmap(WATCH_NAMESPACE, "fanout", {"n": "0"}), {})
    fanout = _FanOut(WATCHERS)
    since = store.resource_version
    url = (
        f"{world.api.url}/api/v1/namespaces/{WATCH_NAMESPACE}/configmaps"
        f"?watch=1&resourceVersion={since}&timeoutSeconds=600"
    )
    counter = 0

    def write() -> str:
        nonlocal counter
        counter += 1
        entry = store.get(CONFIGMAPS, WATCH_NAMESPACE, "fanout")
        assert entry is not None
        obj = _configmap(WATCH_NAMESPACE, "fanout", {"n": str(counter)})
        updated = store.update(CONFIGMAPS, obj, entry.managed)
        return str(updated["metadata"]["resourceVersion"])

    connector = aiohttp.TCPConnector(limit=0)
    async with (
        aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT.total),
            headers={"User-Agent": USER_AGENT},
        ) as session,
        asyncio.TaskGroup() as group,
    ):
        watchers = [group.create_task(_watch(session, url, fanout)) for _ in range(WATCHERS)]
        await _until_watching(world, WATCHERS)
        latencies = []
        for _ in range(FANOUT_EVENTS):
            started = time.monotonic()
            rv = write()
            await fanout.wait_all([rv])
            latencies.append(fanout.complete[rv] - started)
        started = time.monotonic()
        burst = [write() for _ in range(BURST_EVENTS)]
        await fanout.wait_all(burst)
        burst_seconds = max(fanout.complete[rv] for rv in burst) - started
        for task in watchers:
            task.cancel()
    latencies.sort()
    results.add(
        Figure(
            SCENARIO,
            f"one event to all {WATCHERS} watchers, p50",
            statistics.median(latencies) * 1000,
            "ms",
            note=f"{FANOUT_EVENTS} events one at a time",
        ),
        Figure(
            SCENARIO,
            f"one event to all {WATCHERS} watchers, max",
            latencies[-1] * 1000,
            "ms",
        ),
        Figure(
            SCENARIO,
            "watch events delivered per second, burst",
            BURST_EVENTS * WATCHERS / burst_seconds,
            "events/s",
            note=f"{BURST_EVENTS} writes x {WATCHERS} watchers",
        ),
    )


async def _until_watching(world: World, watchers: int) -> None:
    """Wait until the server holds every watch open (events after ``since`` reach all)."""

    await wait_for(
        lambda: world.api.hub.open_count() >= watchers,
        what=f"{watchers} open watches",
        within=DELIVERY_TIMEOUT,
    )
