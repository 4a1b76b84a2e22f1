"""What every scenario stands on: an API server, a chart repository, the operator, bare helm.

A ``World`` is a fresh in-memory API server (with the HelmRelease CRD and the bench
namespace) plus a loopback Helm repository that counts the requests it serves.
``HelmReleaseEvents`` follows HelmReleases through the store's own change
callbacks, so the time a release became Ready is known exactly, without polling.
``OperatorProcess`` is the real operator as a child process (``python -m controller
run``), its /metrics and its /proc figures. ``run_helm`` starts bare helm the way the
operator does, for the baseline.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from apiserver.resources import GroupResource
from apiserver.server import ApiServer
from apiserver.store import WatchEvent

ROOT = Path(__file__).resolve().parents[1]
CHARTS_DIR = ROOT / "tests" / "data" / "charts"
CRD_FILE = ROOT / "manifests" / "crds" / "helmreleases.flux.weave.works.yaml"
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
OPERATOR_START_TIMEOUT = 60.0
OPERATOR_STOP_TIMEOUT = 20.0
POLL_INTERVAL = 0.2
LAST_RECONCILE_GAUGE = "helmrelease_release_last_reconcile_timestamp_seconds"

T = TypeVar("T")


def helm_bin() -> str:
    return os.environ.get("HELM_BIN", str(ROOT / ".tools" / "bin" / "helm"))


def kubectl_bin() -> str:
    return os.environ.get("KUBECTL_BIN", str(ROOT / ".tools" / "bin" / "kubectl"))


class BenchError(Exception):
    """A scenario could not be measured (a deadline passed, a process failed)."""


# --- waiting ---------------------------------------------------------------------------


async def poll(probe: Callable[[], Awaitable[T | None]], *, within: float, what: str) -> T:
    """Call ``probe`` until it returns something, for at most ``within`` seconds.

    For state only visible from outside (another process's /metrics); changes of the
    store are awaited through ``HelmReleaseEvents`` instead.
    """
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


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
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

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
        self._wake()

    def reset_ready(self) -> None:
        self.first_ready.clear()

    async def wait(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, within)
        except TimeoutError:
            raise BenchError(f"timed out after {within:.0f}s waiting for {what}") from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                satisfied = predicate()
            except Exception as error:  # fails its waiter, never the store write calling us
                future.set_exception(error)
                continue
            if satisfied:
                future.set_result(None)


# --- the chart repository ----------------------------------------------------------------


@dataclass
class ChartRepo:
    """A loopback Helm repository of the test charts; counts requests by path and status."""

    url: str
    requests: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)

    def count(self, path: str, status: int | None = None) -> int:
        return sum(n for (p, s), n in self.requests.items() if p == path and status in (None, s))


@contextlib.asynccontextmanager
async def serve_charts(host: str = "127.0.0.1") -> AsyncIterator[ChartRepo]:
    repo = ChartRepo(url="")

    @web.middleware
    async def counting(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            repo.requests[(request.path, error.status)] += 1
            raise
        repo.requests[(request.path, response.status)] += 1
        return response

    app = web.Application(middlewares=[counting])
    app.router.add_static("/", CHARTS_DIR)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        repo.url = f"http://{host}:{port}"
        yield repo
    finally:
        await runner.cleanup()


# --- the API server ------------------------------------------------------------------------


@dataclass
class World:
    """A fresh API server with the CRD and the bench namespace, a chart repo, a work dir."""

    api: ApiServer
    repo: ChartRepo
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
    crd = yaml.safe_load(await asyncio.to_thread(CRD_FILE.read_text))
    events = HelmReleaseEvents()
    async with (
        ApiServer(simulate=True) as api,
        serve_charts() as repo,
        aiohttp.ClientSession(
            timeout=REQUEST_TIMEOUT,
            headers={"User-Agent": USER_AGENT, "Authorization": "Bearer bench"},
        ) as session,
    ):
        api.store.add_listener(events.on_event)
        kubeconfig = workdir / "kubeconfig"
        await api.write_kubeconfig(kubeconfig)
        world = World(api, repo, workdir, kubeconfig, session, events)
        await world.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        await world.request("POST", "/api/v1/namespaces", namespace)
        yield world


def release_names(n: int) -> list[str]:
    return [f"podinfo-{i:05d}" for i in range(n)]


# --- bare helm -------------------------------------------------------------------------------


def helm_env(world: World) -> dict[str, str]:
    """helm's environment: our kubeconfig, and caches of its own (never the user's)."""
    home = world.workdir / "helm-home"
    return {
        **os.environ,
        "KUBECONFIG": str(world.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


async def run_helm(args: list[str], env: Mapping[str, str]) -> None:
    """One helm process to its end; raises BenchError when it fails or overruns."""
    process = await asyncio.create_subprocess_exec(
        helm_bin(),
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), HELM_TIMEOUT + 30)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
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


@dataclass(frozen=True)
class Samples:
    """One scrape of /metrics: (name, labels) -> value."""

    values: Mapping[tuple[str, frozenset[tuple[str, str]]], float]

    @classmethod
    def parse(cls, text: str) -> Samples:
        values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return cls(values)

    def series(self, name: str) -> int:
        """How many label sets ``name`` has (per-release gauges: releases seen)."""
        return sum(1 for sample, _ in self.values if sample == name)

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, sample_labels), value in self.values.items()
            if sample == name and wanted <= sample_labels
        )


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process itself (children not counted), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_memory(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of the process, in bytes, from /proc."""
    memory: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                memory[key] = int(value.split()[0]) * 1024
    return memory


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OperatorProcess:
    """``python -m controller run`` against a World, its logs in the world's work dir."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path
        self.started = time.monotonic()
        self._session = aiohttp.ClientSession(timeout=REQUEST_TIMEOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def samples(self) -> Samples:
        async with self._session.get(self.url + "/metrics") as response:
            return Samples.parse(await response.text())

    async def ready(self) -> bool:
        if self.process.returncode is not None:
            raise BenchError(
                f"the operator exited ({self.process.returncode}); see {self.log_path}"
            )
        try:
            async with self._session.get(self.url + "/readyz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def wait_reconciled(self, releases: int, *, within: float) -> Samples:
        """Scrape /metrics until this process has reconciled ``releases`` HelmReleases.

        Counted by the per-release gauge of the last reconcile, which gets a series the
        first time each release is reconciled (a total of reconciles would also count
        releases reconciled twice).
        """

        async def enough() -> Samples | None:
            samples = await self.samples()
            done = samples.series(LAST_RECONCILE_GAUGE)
            return samples if done >= releases else None

        return await poll(enough, within=within, what=f"{releases} releases reconciled")

    async def cpu_seconds(self) -> float:
        return await asyncio.to_thread(proc_cpu_seconds, self.pid)

    async def memory(self) -> dict[str, int]:
        return await asyncio.to_thread(proc_memory, self.pid)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it overstays; calling it again does nothing."""
        await self._session.close()
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), OPERATOR_STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def run_operator(
    world: World, *, workers: int, tag: str, extra: Iterable[str] = ()
) -> AsyncIterator[OperatorProcess]:
    """The operator on ``world``, ready (caches synced) when yielded; stopped on exit.

    The chart cache lives in the world's work dir, so a restarted operator finds the
    charts its predecessor downloaded, as a restarted pod with a persistent volume would.
    """
    port = free_port()
    log_path = world.workdir / f"operator-{tag}.log"
    work_dir = world.workdir / f"operator-{tag}"
    await asyncio.to_thread(work_dir.mkdir, exist_ok=True)
    args = [
        "-m", "controller", "run",
        "--kubeconfig", str(world.kubeconfig),
        "--listen", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--no-leader-election",
        "--chart-cache-dir", str(world.workdir / "chart-cache"),
        "--work-dir", str(work_dir),
        "--log-level", "warning",
        *extra,
    ]  # fmt: skip
    log = await asyncio.to_thread(open, log_path, "ab")
    with log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=ROOT,
            env={**os.environ, "HELM_BIN": helm_bin()},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    operator = OperatorProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        await poll(
            lambda: _true_or_none(operator.ready()),
            within=OPERATOR_START_TIMEOUT,
            what="the operator to be ready",
        )
        yield operator
    finally:
        await operator.stop()


async def _true_or_none(check: Awaitable[bool]) -> bool | None:
    return True if await check else None


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
