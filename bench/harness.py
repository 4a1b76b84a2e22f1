"""What every scenario stands on: an API server, a chart repository, the operator, bare helm.

A ``World`` is a fresh in-memory API server (with the project's CRDs and the bench
namespace) plus a loopback Helm repository (``testkit.ChartRepository``) that counts
the requests it serves. ``HelmReleaseEvents`` follows HelmReleases through the store's
own change callbacks, so the time a release became Ready is known exactly, without
polling. ``run_operator`` runs the real operator (``testkit.OperatorProcess``: its
/metrics and its /proc figures); ``probe`` times its /healthz all along. ``run_helm``
starts bare helm the way the operator does, for the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from apiserver.resources import GroupResource
from apiserver.server import ApiServer
from apiserver.store import WatchEvent
from testkit import (
    CHARTS_DIR,
    ChartRepository,
    OperatorProcess,
    Scrape,
    helm_bin,
    kubectl_bin,
    register_crds,
    run,
    tool_env,
    wait_for,
)

HELMRELEASES = GroupResource("flux.weave.works", "helmreleases")
SECRETS = GroupResource("", "secrets")
HELMRELEASE_PATH = "/apis/flux.weave.works/v1beta1/namespaces/{namespace}/helmreleases"
NAMESPACE = "bench"
CHART_NAME = "podinfo"
CHART_VERSION = "6.7.1"
CHART_FILE = CHARTS_DIR / f"{CHART_NAME}-{CHART_VERSION}.tgz"
USER_AGENT = "helmrelease-bench"
HELM_USER_AGENT = "Helm/"
HELM_TIMEOUT = 300.0
"""helm's --timeout and the deadline of one bare helm process (the operator's default)."""
HISTORY_MAX = 10
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)
LAST_RECONCILE_GAUGE = "helmrelease_release_last_reconcile_timestamp_seconds"
RECONCILES = "helmrelease_reconcile_total"
HELM_STARTED = "helmrelease_helm_processes_started_total"
PROBE_EVERY = 0.02
"""Seconds between two questions of ``probe``."""

T = TypeVar("T")


class BenchError(Exception):
    """A scenario could not be measured (a deadline passed, a process failed)."""


# --- waiting ---------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of at least one value."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def is_ready(obj: Mapping[str, Any]) -> bool:
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions or ()
    )


class HelmReleaseEvents:
    """The latest body of every HelmRelease and when each first became Ready.

    Fed synchronously by the store on every write, so ``wait`` wakes up on the very
    change that satisfies its predicate.
    """

    def __init__(self) -> None:
        self.latest: dict[str, Mapping[str, Any]] = {}
        self.first_ready: dict[str, float] = {}
        """Name -> ``time.monotonic()`` of the write that first made it Ready."""
        self._changed = asyncio.Event()

    def on_event(self, event: WatchEvent) -> None:
        if event.resource != HELMRELEASES:
            return
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self.latest.pop(name, None)
        else:
            self.latest[name] = event.obj
            if name not in self.first_ready and is_ready(event.obj):
                self.first_ready[name] = time.monotonic()
        self._changed.set()

    def reset_ready(self) -> None:
        self.first_ready.clear()

    async def wait(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        """Wait until ``predicate()`` holds, checked again on each change of a HelmRelease."""
        await wait_for(predicate, what=what, within=within, changed=self._changed)


# --- the API server ------------------------------------------------------------------------


@dataclass
class World:
    """A fresh API server with the CRD and the bench namespace, a chart repo, a work dir."""

    api: ApiServer
    repo: ChartRepository
    workdir: Path
    kubeconfig: Path
    session: aiohttp.ClientSession
    helmreleases: HelmReleaseEvents

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type}
        async with self.session.request(
            method, self.api.url + path, data=data, headers=headers
        ) as response:
            payload: dict[str, Any] = await response.json(content_type=None)
            if response.status >= 400:
                raise BenchError(f"{method} {path}: {response.status} {payload.get('message')}")
            return payload

    def helmrelease(self, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "flux.weave.works/v1beta1",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "chart": {
                    "repository": self.repo.url,
                    "name": CHART_NAME,
                    "version": CHART_VERSION,
                },
                "values": dict(values),
            },
        }

    async def create_helmreleases(
        self, names: Iterable[str], values: Mapping[str, Any], concurrency: int = 16
    ) -> None:
        """POST HelmReleases as fast as a client can (``kubectl apply`` of one big list)."""
        path = HELMRELEASE_PATH.format(namespace=NAMESPACE)
        limit = asyncio.Semaphore(concurrency)

        async def create(name: str) -> None:
            async with limit:
                await self.request("POST", path, self.helmrelease(name, values))

        async with asyncio.TaskGroup() as group:
            for name in names:
                group.create_task(create(name))

    async def patch_values(self, name: str, values: Mapping[str, Any]) -> None:
        path = HELMRELEASE_PATH.format(namespace=NAMESPACE) + f"/{name}"
        body = {"spec": {"values": dict(values)}}
        await self.request("PATCH", path, body, "application/merge-patch+json")


@contextlib.asynccontextmanager
async def make_world(workdir: Path) -> AsyncIterator[World]:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    events = HelmReleaseEvents()
    async with (
        ApiServer(simulate=True) as api,
        ChartRepository() as repo,
        aiohttp.ClientSession(
            timeout=REQUEST_TIMEOUT,
            headers={"User-Agent": USER_AGENT, "Authorization": "Bearer bench"},
        ) as session,
    ):
        api.store.add_listener(events.on_event)
        kubeconfig = workdir / "kubeconfig"
        await api.write_kubeconfig(kubeconfig)
        world = World(api, repo, workdir, kubeconfig, session, events)
        await register_crds(kubeconfig)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        await world.request("POST", "/api/v1/namespaces", namespace)
        yield world


def release_names(n: int) -> list[str]:
    return [f"podinfo-{i:05d}" for i in range(n)]


# --- bare helm -------------------------------------------------------------------------------


def helm_env(world: World) -> dict[str, str]:
    """helm's environment: our kubeconfig, and a home and caches of its own."""
    return tool_env(world.workdir / "helm-home", world.kubeconfig)


async def run_helm(args: list[str], env: Mapping[str, str]) -> None:
    """One helm process to its end; raises BenchError when it fails or overruns."""
    done = await run((helm_bin(), *args), env, limit=HELM_TIMEOUT + 30)
    if done.code != 0:
        message = done.stderr.strip().splitlines()[-1:] or ["?"]
        raise BenchError(f"helm {args[0]} {args[1]} failed: {message[0]}")


def helm_upgrade_args(name: str, values_file: Path) -> list[str]:
    """``helm upgrade --install`` as the operator runs it (same flags, local chart file)."""
    return [
        "upgrade",
        name,
        str(CHART_FILE),
        "--namespace",
        NAMESPACE,
        "-f",
        str(values_file),
        "--history-max",
        str(HISTORY_MAX),
        "--timeout",
        f"{int(HELM_TIMEOUT)}s",
        "--output",
        "json",
        "--install",
    ]


@dataclass(frozen=True)
class Installed:
    """When each bare helm finished (seconds from the start) and how long each one took."""

    finished: dict[str, float]
    durations: dict[str, float]


async def install_in_parallel(
    names: list[str],
    values: Path,
    workers: int,
    env: Mapping[str, str],
    errors: Path,
    within: float,
) -> Installed:
    """``helm upgrade --install`` of every name, ``workers`` at a time, run by ``xargs -P``.

    No Python sits between the helm processes: this process only hosts the API server
    and reads one line per start and end, as in the operator runs, where another process
    (the operator) runs helm. helm's error output goes to ``errors``.
    """
    rest = shlex.join(helm_upgrade_args("-", values)[2:])
    script = (
        f'echo "start $1"; {shlex.quote(helm_bin())} upgrade "$1" {rest} '
        f'>/dev/null 2>>{shlex.quote(str(errors))} && echo "done $1"'
    )
    process = await asyncio.create_subprocess_exec(
        "xargs", "-P", str(workers), "-n", "1", "sh", "-c", script, "sh",
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a timeout stops every helm
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    started = time.monotonic()
    begun: dict[str, float] = {}
    finished: dict[str, float] = {}
    durations: dict[str, float] = {}
    try:
        async with asyncio.timeout(within):
            process.stdin.write("".join(f"{name}\n" for name in names).encode())
            await process.stdin.drain()
            process.stdin.close()
            async for line in process.stdout:
                now = time.monotonic()
                event, _, name = line.decode().strip().partition(" ")
                if event == "start":
                    begun[name] = now
                else:
                    finished[name] = now - started
                    durations[name] = now - begun[name]
            await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        raise
    if len(finished) != len(names):
        failed = len(names) - len(finished)
        raise BenchError(f"{failed} bare helm installs failed; see {errors}")
    return Installed(finished, durations)


async def write_values(path: Path, values: Mapping[str, Any]) -> Path:
    await asyncio.to_thread(path.write_text, yaml.safe_dump(dict(values)))
    return path


async def run_limited(jobs: Iterable[Callable[[], Awaitable[T]]], concurrency: int) -> list[T]:
    """Run jobs at most ``concurrency`` at a time; the first failure cancels the rest."""
    limit = asyncio.Semaphore(concurrency)

    async def limited(job: Callable[[], Awaitable[T]]) -> T:
        async with limit:
            return await job()

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(limited(job)) for job in jobs]
    return [task.result() for task in tasks]


# --- the operator ------------------------------------------------------------------------------


METRICS_POLL = 0.5
"""Seconds between scrapes while waiting on the operator's metrics. A scrape of N releases'
series costs the operator CPU (tens of ms at 1,000 releases): polled at the test kit's 20 ms
it would be counted against what a scenario measures."""


async def scraped(
    operator: OperatorProcess,
    accept: Callable[[Scrape], bool],
    *,
    within: float,
    what: str,
    names: Sequence[str] = (),
) -> Scrape:
    """The operator's metrics once ``accept`` holds for them, scraped every METRICS_POLL s
    (only the families ``names`` names, when given)."""
    try:
        async with asyncio.timeout(within):
            while True:
                samples = await operator.metrics(*names)
                if accept(samples):
                    return samples
                await asyncio.sleep(METRICS_POLL)  # the scrape period, not a synchronisation
    except TimeoutError:
        raise BenchError(f"gave up after {within:g}s waiting for {what}") from None


@dataclass(frozen=True)
class Reconciled:
    """An operator that has reconciled every release: when, and its metrics."""

    seconds: float
    """From the operator's launch to the scrape that showed every release reconciled."""
    cpu: float
    """The operator's CPU seconds then (before the scrape of its counters)."""
    samples: Scrape
    """Its counters of reconciles and of helm processes started, scraped after."""


async def wait_reconciled(operator: OperatorProcess, releases: int, *, within: float) -> Reconciled:
    """Scrape /metrics until the operator has reconciled ``releases`` HelmReleases; then
    all of it.

    Counted by the per-release gauge of the last reconcile, which gets a series the first
    time each release is reconciled (a total of reconciles would also count releases
    reconciled twice). Only that family is asked for (``name[]``), and only once the total
    of reconciles says it may be time: a whole page of 100,000 releases' series costs the
    operator seconds to render.
    """
    what = f"{releases} releases reconciled"
    deadline = time.monotonic() + within
    await scraped(
        operator,
        lambda samples: samples.total(RECONCILES) >= releases,
        within=within,
        what=what,
        names=[RECONCILES],
    )
    await scraped(
        operator,
        lambda samples: samples.series(LAST_RECONCILE_GAUGE) >= releases,
        within=deadline - time.monotonic(),
        what=what,
        names=[LAST_RECONCILE_GAUGE],
    )
    seconds = time.monotonic() - operator.launched_at
    cpu = await operator.cpu_seconds()
    # those two families only: a whole page is tens of MB at 100,000 releases, and
    # parsing it here would hold this process's loop, the API server's, for seconds
    return Reconciled(seconds, cpu, await operator.metrics(RECONCILES, HELM_STARTED))


def run_operator(
    world: World, *, workers: int, tag: str, extra: Iterable[str] = ()
) -> OperatorProcess:
    """The operator on ``world``; ``async with`` it: ready (caches synced), then stopped.

    The chart cache lives in the world's work dir, so a restarted operator finds the
    charts its predecessor downloaded, as a restarted pod with a persistent volume would.
    Its log (``operator-<tag>.log``) is at info level: warnings and one line per helm run.
    """
    return OperatorProcess(
        world.workdir,
        *("--workers", str(workers), "--log-level", "info", *extra),
        kubeconfig=world.kubeconfig,
        name=f"operator-{tag}",
    )


async def probe(url: str, stop: asyncio.Event) -> float:
    """The longest answer of a GET of ``url`` (an operator's ``/healthz``, say), asked every
    PROBE_EVERY s by a client in a process of its own (``bench/probe.py``) until ``stop``
    is set."""
    prober = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("probe.py")),
        url,
        str(PROBE_EVERY),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await stop.wait()
        answer, _ = await asyncio.wait_for(prober.communicate(b""), 60)  # stdin closes: stop
    finally:
        if prober.returncode is None:
            prober.kill()
            await prober.wait()
    if prober.returncode != 0:
        raise BenchError(f"the prober of {url} failed (exit {prober.returncode})")
    return float(answer)


# --- the machine ---------------------------------------------------------------------------------


async def _version(argv: list[str]) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    except (OSError, TimeoutError):
        return "unavailable"
    return stdout.decode(errors="replace").strip() or "unavailable"


def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_total() -> int:
    with contextlib.suppress(OSError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


async def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    helm3 = str(Path(helm_bin()).with_name("helm3"))
    kubectl = await _version([kubectl_bin(), "version", "--client", "-o", "json"])
    with contextlib.suppress(ValueError):
        kubectl = json.loads(kubectl)["clientVersion"]["gitVersion"]
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": await asyncio.to_thread(_cpu_model),
        "memory_bytes": await asyncio.to_thread(_memory_total),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "helm": await _version([helm_bin(), "version", "--template", "{{.Version}}"]),
        "helm3": await _version([helm3, "version", "--template", "{{.Version}}"]),
        "kubectl": kubectl,
    }
