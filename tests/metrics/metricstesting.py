"""Harness of the metrics tests: the operator and a real Prometheus as child processes,
kubectl against the in-memory API server, the Prometheus text format, and waiting on a
condition with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from apiserver import ApiServer
from apiserver.resources import GroupResource

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
CRD_DIR = ROOT / "manifests" / "crds"
PROMETHEUS = shutil.which("prometheus", path="/usr/bin:/usr/local/bin:/bin")
HELMRELEASES = GroupResource("flux.weave.works", "helmreleases")
POLL_INTERVAL = 0.1
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
READY_TIMEOUT = 120.0
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
_BOUND = re.compile(r"serving /metrics, /healthz and /readyz on (\S+)")

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = READY_TIMEOUT
) -> T:
    """The first result of ``probe`` other than None; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {within:.0f}s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)  # the polling period, not a synchronisation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Child:
    """A child process whose output goes to a log file."""

    process: asyncio.subprocess.Process
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def check_running(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError(
                f"{self.log.stem} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    async def stop(self) -> int:
        """SIGTERM, then the exit status; killed (and failing) when it does not stop in time."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"{self.log.stem} ignored SIGTERM:\n{self.log_tail()}") from None


@contextlib.asynccontextmanager
async def child(argv: list[str], env: Mapping[str, str], log: Path) -> AsyncIterator[Child]:
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    running = Child(process, log)
    try:
        yield running
    finally:
        if process.returncode is None:
            await running.stop()


@contextlib.asynccontextmanager
async def operator(
    kubeconfig: Path, env: Mapping[str, str], work: Path
) -> AsyncIterator[tuple[Child, str]]:
    """The operator with real helm 4, and the base URL of its /metrics."""
    argv = [
        sys.executable,
        "-m",
        "controller",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "--listen",
        "127.0.0.1:0",
        "--no-leader-election",
        "--chart-cache-dir",
        str(work / "chart-cache"),
        "--helm-bin",
        str(TOOLS / "helm"),
    ]
    async with child(argv, env, work / "operator.log") as process:

        async def bound() -> str | None:
            process.check_running()
            found = _BOUND.search(await asyncio.to_thread(process.log.read_text, errors="replace"))
            return None if found is None else found[1]

        address = await eventually(bound, "the operator to serve /metrics", START_TIMEOUT)
        yield process, f"http://{address}"


@dataclass(frozen=True)
class Prometheus:
    process: Child
    url: str
    session: aiohttp.ClientSession

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now."""
        async with self.session.get(
            f"{self.url}/api/v1/query", params={"query": promql}, timeout=HTTP_TIMEOUT
        ) as response:
            body = await response.json()
        assert body["status"] == "success", body
        results: list[dict[str, Any]] = body["data"]["result"]
        return results

    async def value(self, promql: str) -> float | None:
        """The value of a one-sample query, None while it has no sample."""
        results = await self.query(promql)
        return float(results[0]["value"][1]) if results else None


@contextlib.asynccontextmanager
async def prometheus(
    binary: str, target: str, work: Path, session: aiohttp.ClientSession
) -> AsyncIterator[Prometheus]:
    """A real Prometheus scraping ``target`` (HOST:PORT) every second."""
    config = work / "prometheus.yml"
    scrape = {"job_name": "helmrelease-operator", "static_configs": [{"targets": [target]}]}
    settings = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"}}
    document = json.dumps({**settings, "scrape_configs": [scrape]})  # JSON is YAML
    await asyncio.to_thread(config.write_text, document)
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
    async with child(argv, env, work / "prometheus.log") as process:
        server = Prometheus(process, f"http://127.0.0.1:{port}", session)

        async def ready() -> bool | None:
            process.check_running()
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{server.url}/-/ready", timeout=HTTP_TIMEOUT) as response:
                    return True if response.status == 200 else None
            return None

        await eventually(ready, "Prometheus to be ready", START_TIMEOUT)
        yield server


async def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        str(TOOLS / "kubectl"),
        *args,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(None if stdin is None else stdin.encode()), 60
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
    return out.decode()


async def install_crd(env: Mapping[str, str]) -> None:
    await kubectl(env, "apply", "-f", str(CRD_DIR))
    await kubectl(
        env,
        "wait",
        "--for=condition=Established",
        "--timeout=30s",
        "crd/helmreleases.flux.weave.works",
    )


def helmrelease(name: str, repository: str, values: Mapping[str, Any]) -> str:
    """A HelmRelease of podinfo 6.7.1 from ``repository``, as kubectl input."""
    return json.dumps(
        {
            "apiVersion": "flux.weave.works/v1beta1",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "chart": {"repository": f"{repository}/", "name": "podinfo", "version": "6.7.1"},
                "values": dict(values),
            },
        }
    )


async def wait_ready(apiserver: ApiServer, name: str, generation: int) -> None:
    """Wait until the HelmRelease is Ready for ``generation`` of its spec."""

    async def ready() -> bool | None:
        entry = apiserver.store.get(HELMRELEASES, "default", name)
        status = (entry.obj.get("status") or {}) if entry is not None else {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        observed = status.get("observedGeneration") == generation
        return True if observed and conditions.get("Ready") == "True" else None

    await eventually(ready, f"HelmRelease {name} to be Ready at generation {generation}")


@dataclass(frozen=True)
class Exposition:
    """One /metrics page: the type of each metric family and every sample."""

    types: dict[str, str]
    samples: list[Sample]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        return cls(types, samples)

    def value(self, metric: str, /, **labels: str) -> float | None:
        """The sample ``metric`` whose labels include ``labels``; None when there is none."""
        for sample in self.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                return float(sample.value)
        return None


async def scrape(session: aiohttp.ClientSession, metrics_url: str) -> Exposition:
    async with session.get(f"{metrics_url}/metrics", timeout=HTTP_TIMEOUT) as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        return Exposition.parse(await response.text())
