"""Harness of the end-to-end suite: the API server, chart repository and operator it runs against.

By default everything is local: the in-memory API server (with workload simulation) as
a subprocess, the test chart repository served by ``serve_directory`` from a thread of
the test process, and the operator as a subprocess. With ``E2E_KUBECONFIG`` set, that
cluster is used instead; the chart repository listens on every interface and is
advertised as ``http://$E2E_CHART_REPO_HOST:PORT``; with ``E2E_OPERATOR_DEPLOYED=1`` the
operator is the one deployed in ``E2E_OPERATOR_NAMESPACE`` (stopped and started by
scaling its Deployment), otherwise a local process against that cluster.

Tests see one ``Env``: kubectl/helm with private homes, ``apply``, waiting on a
HelmRelease, the operator's metrics and logs. The background processes are plain
``subprocess.Popen`` children, so no task of theirs lives in a test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from tooltesting import Completed, run

from apiserver import serve_directory

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
CHARTS = ROOT / "tests" / "data" / "charts"
CRDS = ROOT / "manifests" / "crds"
HR_API_VERSION = "flux.weave.works/v1beta1"
FINALIZER = "helmreleases.flux.weave.works/finalizer"
OPERATOR_DEPLOYMENT = "helmrelease-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=helmrelease-operator"
OPERATOR_METRICS_PORT = 8080
POLL_INTERVAL = 0.1
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
RETRY_INITIAL = 20.0
"""Seconds before the local operator first retries a failed release."""
DEPLOYED_RETRY_INITIAL = 1.0
"""The same for the deployed operator: the default, manifests/ does not change it."""

T = TypeVar("T")


@dataclass(frozen=True)
class Config:
    """Where the suite runs, read from the environment ``scripts/e2e-kind`` sets."""

    kubeconfig: Path | None
    chart_repo_host: str
    operator_namespace: str
    operator_deployed: bool
    kubectl_bin: str
    helm_bin: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Config:
        kubeconfig = environ.get("E2E_KUBECONFIG")
        return cls(
            kubeconfig=Path(kubeconfig) if kubeconfig else None,
            chart_repo_host=environ.get("E2E_CHART_REPO_HOST") or "127.0.0.1",
            operator_namespace=environ.get("E2E_OPERATOR_NAMESPACE") or "helmrelease-operator",
            operator_deployed=bool(kubeconfig) and environ.get("E2E_OPERATOR_DEPLOYED") == "1",
            kubectl_bin=environ.get("KUBECTL_BIN") or str(TOOLS / "kubectl"),
            helm_bin=environ.get("HELM_BIN") or str(TOOLS / "helm"),
        )


async def until(check: Callable[[], Awaitable[T | None]], *, within: float, what: str) -> T:
    """The first non-None result of ``check``, polled until ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


@dataclass(frozen=True)
class Metrics:
    """Samples of one or more /metrics pages (counters of several replicas add up)."""

    samples: tuple[tuple[str, Mapping[str, str], float], ...] = field(repr=False)

    @classmethod
    def parse(cls, *pages: str) -> Metrics:
        return cls(
            tuple(
                (sample.name, dict(sample.labels), float(sample.value))
                for page in pages
                for family in text_string_to_metric_families(page)
                for sample in family.samples
            )
        )

    def value(self, metric: str, /, **labels: str) -> float:
        """Sum of the samples named ``metric`` whose labels include ``labels``."""
        return sum(
            value
            for sample, found, value in self.samples
            if sample == metric and all(found.get(key) == want for key, want in labels.items())
        )


def condition(hr: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The condition ``kind`` of a HelmRelease ({} when it has none)."""
    for body in hr.get("status", {}).get("conditions", []):
        if body.get("type") == kind:
            return dict(body)
    return {}


def current(hr: Mapping[str, Any], kind: str = "Ready") -> Mapping[str, Any]:
    """Condition ``kind`` if it was written for the HelmRelease's current generation, else {}."""
    found = condition(hr, kind)
    if found.get("observedGeneration") != hr["metadata"].get("generation"):
        return {}
    return found


class Operator(Protocol):
    """The operator under test, local process or deployed."""

    async def ready(self) -> None: ...
    async def stop(self) -> None: ...
    async def start(self) -> None: ...
    async def metrics(self) -> Metrics: ...
    async def logs(self) -> str: ...


class LocalOperator:
    """``python -m controller run`` as a child process, logging to one file across restarts."""

    LISTENING = re.compile(r"serving /metrics, /healthz and /readyz on (\S+)")

    def __init__(
        self,
        kubeconfig: Path,
        helm_bin: str,
        work: Path,
        *,
        name: str = "operator",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.log_path = work / f"{name}.log"
        self._argv = (
            sys.executable,
            "-m",
            "controller",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "4",
            "--no-leader-election",
            "--chart-cache-dir",
            str(work / "chart-cache"),
            "--work-dir",
            str(work / "helm-work"),
            "--helm-bin",
            helm_bin,
            "--log-level",
            "debug",  # the most verbose logs: none of it may show a value
            "--shutdown-grace",
            "20",
            # Long enough that no test outlives a first retry: a failed release must be
            # attempted exactly once until its spec changes.
            "--retry-initial",
            str(RETRY_INITIAL),
            *extra_args,  # later flags win
        )
        (work / "helm-work").mkdir(parents=True, exist_ok=True)
        self._env = {**os.environ, "HELM_BIN": helm_bin}
        self._env.pop("KUBECONFIG", None)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._url: str | None = None

    def launch(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._argv, env=self._env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._url = None

    async def ready(self) -> None:
        if self._url is None:
            address = await until(self._listening, within=START_TIMEOUT, what="operator /metrics")
            self._url = f"http://{address}"
        await until(self._is_ready, within=START_TIMEOUT, what="operator /readyz")

    async def _listening(self) -> str | None:
        process = self._process
        assert process is not None, "the operator was not started"
        text = await asyncio.to_thread(self._read_log, self._log_offset)
        if process.poll() is not None:
            raise AssertionError(f"the operator exited ({process.returncode}):\n{text[-3000:]}")
        found = self.LISTENING.search(text)
        return found.group(1) if found else None

    async def _is_ready(self) -> bool | None:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.get(
                    f"{self._url}/readyz", timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    return True if response.status == 200 else None
            except aiohttp.ClientError:
                return None

    async def stop(self) -> None:
        process = self._process
        assert process is not None, "the operator was never started"
        assert process.poll() is None, "the operator is not running"
        process.send_signal(signal.SIGTERM)
        code = await until(
            lambda: _returncode(process), within=STOP_TIMEOUT, what="the operator to exit"
        )
        assert code == 0, f"the operator exited with {code} on SIGTERM"

    async def start(self) -> None:
        self.launch()
        await self.ready()

    async def metrics(self) -> Metrics:
        assert self._url is not None, "the operator is not ready"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self._url}/metrics", timeout=aiohttp.ClientTimeout(total=10)) as reply,
        ):
            assert reply.status == 200, f"/metrics answered {reply.status}"
            return Metrics.parse(await reply.text())

    async def logs(self) -> str:
        return await asyncio.to_thread(self._read_log, 0)

    def _read_log(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process dies without releasing anything (a crashed pod)."""
        assert self._process is not None, "the operator was never started"
        self._process.kill()
        self._process.wait()

    def terminate(self) -> None:
        """Stop the process from synchronous teardown code (SIGTERM, then SIGKILL)."""
        if self._process is not None:
            _terminate(self._process)


class DeployedOperator:
    """The operator Deployment in the cluster: stopped by scaling to zero, metrics via the
    API server's pod proxy (summed over replicas; only the leader reconciles)."""

    def __init__(self, env: Env, namespace: str) -> None:
        self._env = env
        self._namespace = namespace
        self._replicas = 1

    async def _kubectl(self, *args: str) -> Completed:
        return await self._env.kubectl("-n", self._namespace, *args)

    async def ready(self) -> None:
        await self._kubectl(
            "rollout", "status", f"deployment/{OPERATOR_DEPLOYMENT}", "--timeout=80s"
        )

    async def stop(self) -> None:
        deployment = await self._kubectl("get", "deployment", OPERATOR_DEPLOYMENT, "-o", "json")
        self._replicas = int(deployment.json()["spec"].get("replicas", 1))
        await self._kubectl("scale", f"deployment/{OPERATOR_DEPLOYMENT}", "--replicas=0")
        await self._kubectl("wait", "--for=delete", "pod", "-l", OPERATOR_SELECTOR, "--timeout=80s")

    async def start(self) -> None:
        await self._kubectl(
            "scale", f"deployment/{OPERATOR_DEPLOYMENT}", f"--replicas={self._replicas}"
        )
        await self.ready()

    async def _pods(self) -> list[str]:
        pods = (await self._kubectl("get", "pods", "-l", OPERATOR_SELECTOR, "-o", "json")).json()
        return [
            pod["metadata"]["name"]
            for pod in pods["items"]
            if pod.get("status", {}).get("phase") == "Running"
        ]

    async def metrics(self) -> Metrics:
        pages = [
            (
                await self._env.kubectl(
                    "get",
                    "--raw",
                    f"/api/v1/namespaces/{self._namespace}/pods/"
                    f"{pod}:{OPERATOR_METRICS_PORT}/proxy/metrics",
                )
            ).stdout
            for pod in await self._pods()
        ]
        return Metrics.parse(*pages)

    async def logs(self) -> str:
        return (
            await self._kubectl(
                "logs", "-l", OPERATOR_SELECTOR, "--all-containers", "--tail=-1", "--prefix"
            )
        ).stdout


class ChartRepository:
    """The test chart repository, served by ``serve_directory`` on a loop of its own thread."""

    def __init__(self, bind: str) -> None:
        self._bind = bind
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._main, name="e2e-chart-repository")

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT) or self._failure is not None:
            raise RuntimeError(f"the chart repository did not start: {self._failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STOP_TIMEOUT)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self._failure = error
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve_directory(CHARTS, self._bind) as url:
            self.port = int(url.rsplit(":", 1)[1])
            self._started.set()
            await self._stop.wait()


class Env:
    """What a test works with: the cluster through kubectl/helm, the chart repository URL
    and the operator."""

    def __init__(self, config: Config, kubeconfig: Path, work: Path, chart_repo_url: str) -> None:
        self.config = config
        self.kubeconfig = kubeconfig
        self.chart_repo_url = chart_repo_url
        home = work / "home"
        self.tool_env = {
            "PATH": f"{TOOLS}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(home),
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(home / "kube-cache"),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_DATA_HOME": str(home / "helm-data"),
        }
        for name in ("HOME", "KUBECACHEDIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME"):
            Path(self.tool_env[name]).mkdir(parents=True, exist_ok=True)
        Path(self.tool_env["HELM_DATA_HOME"]).mkdir(parents=True, exist_ok=True)
        self.retry_initial = DEPLOYED_RETRY_INITIAL if config.operator_deployed else RETRY_INITIAL
        """Seconds before the operator first retries a failed release (then doubling)."""
        self.operator: Operator = (
            DeployedOperator(self, config.operator_namespace)
            if config.operator_deployed
            else LocalOperator(kubeconfig, config.helm_bin, work)
        )

    # --- tools --------------------------------------------------------------------------

    async def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Completed:
        done = await run((self.config.kubectl_bin, *args), self.tool_env, stdin)
        return done.check() if check else done

    async def helm(self, *args: str, check: bool = True) -> Completed:
        done = await run((self.config.helm_bin, *args), self.tool_env)
        return done.check() if check else done

    async def apply(self, manifest: Mapping[str, Any]) -> None:
        await self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    async def metrics(self) -> Metrics:
        return await self.operator.metrics()

    async def operator_logs(self) -> str:
        return await self.operator.logs()

    # --- HelmReleases -------------------------------------------------------------------

    def helmrelease(
        self,
        namespace: str,
        name: str,
        *,
        version: str = "6.7.1",
        values: Mapping[str, Any] | None = None,
        **spec: Any,
    ) -> dict[str, Any]:
        """A HelmRelease of podinfo from the test chart repository (``spec`` adds fields)."""
        return {
            "apiVersion": HR_API_VERSION,
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                **spec,
                "chart": {
                    "repository": f"{self.chart_repo_url}/",
                    "name": "podinfo",
                    "version": version,
                },
                "values": dict(values or {"replicaCount": 1}),
            },
        }

    async def hr(self, namespace: str, name: str) -> dict[str, Any] | None:
        done = await self.kubectl(
            "get", "helmrelease", name, "-n", namespace, "-o", "json", "--ignore-not-found"
        )
        return done.json() if done.stdout.strip() else None

    async def wait_hr(
        self,
        namespace: str,
        name: str,
        accept: Callable[[Mapping[str, Any]], bool],
        *,
        what: str,
        within: float = 60.0,
    ) -> dict[str, Any]:
        """The HelmRelease once ``accept`` holds for it; the failure shows its last status."""
        last: list[dict[str, Any] | None] = [None]

        async def check() -> dict[str, Any] | None:
            last[0] = await self.hr(namespace, name)
            return last[0] if last[0] is not None and accept(last[0]) else None

        try:
            return await until(check, within=within, what=f"{namespace}/{name}: {what}")
        except AssertionError as error:
            status = json.dumps((last[0] or {}).get("status"), indent=1)
            raise AssertionError(f"{error}; last status: {status}") from None

    async def wait_ready(
        self, namespace: str, name: str, *, revision: int | None = None, within: float = 60.0
    ) -> dict[str, Any]:
        """The HelmRelease once Ready for its current generation (at ``revision`` if given)."""

        def ready(hr: Mapping[str, Any]) -> bool:
            at_revision = revision is None or hr.get("status", {}).get("revision") == revision
            return current(hr).get("status") == "True" and at_revision

        what = "Ready" + (f" at revision {revision}" if revision is not None else "")
        return await self.wait_hr(namespace, name, ready, what=what, within=within)

    async def wait_gone(self, namespace: str, name: str, *, within: float = 60.0) -> None:
        async def gone() -> bool | None:
            return True if await self.hr(namespace, name) is None else None

        await until(gone, within=within, what=f"HelmRelease {namespace}/{name} to be deleted")

    # --- helm releases ------------------------------------------------------------------

    async def history(self, namespace: str, release: str) -> list[dict[str, Any]]:
        """``helm history`` of a release, oldest first ([] when there is none)."""
        done = await self.helm("history", release, "-n", namespace, "-o", "json", check=False)
        if done.code != 0:
            assert "not found" in done.stderr, done.stderr
            return []
        entries: list[dict[str, Any]] = done.json()
        return sorted(entries, key=lambda entry: int(entry["revision"]))

    async def values(self, namespace: str, release: str) -> dict[str, Any]:
        """The user-supplied values of the release's current revision."""
        values: dict[str, Any] | None = (
            await self.helm("get", "values", release, "-n", namespace, "-o", "json")
        ).json()
        return values or {}

    async def release_records(self, namespace: str, release: str) -> list[str]:
        """Names of helm's release Secrets of ``release``."""
        secrets = await self.kubectl(
            "get", "secrets", "-n", namespace, "-l", f"owner=helm,name={release}", "-o", "json"
        )
        return sorted(item["metadata"]["name"] for item in secrets.json()["items"])


@contextlib.contextmanager
def environment(config: Config, work: Path) -> Iterator[Env]:
    """Everything the suite runs against, up for the duration of the block."""
    with contextlib.ExitStack() as stack:
        kubeconfig = config.kubeconfig or work / "kubeconfig"
        if config.kubeconfig is None:
            apiserver = _start_apiserver(kubeconfig, work / "apiserver.log")
            stack.callback(_terminate, apiserver)
        repository = ChartRepository("0.0.0.0" if config.kubeconfig else "127.0.0.1")
        repository.start()
        stack.callback(repository.stop)
        env = Env(config, kubeconfig, work, f"http://{config.chart_repo_host}:{repository.port}")
        if not config.operator_deployed:
            _install_crds(env)
            assert isinstance(env.operator, LocalOperator)
            env.operator.launch()
            stack.callback(env.operator.terminate)
        yield env


def _start_apiserver(kubeconfig: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """The in-memory API server as a child; returns once it listens (it prints its URL)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            (
                sys.executable,
                "-m",
                "apiserver",
                "--kubeconfig",
                str(kubeconfig),
                "--simulate-delay",
                "0.1",
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
    if not readable or not process.stdout.readline().startswith(b"http"):
        _terminate(process)
        raise RuntimeError(f"the API server did not start; see {log_path}")
    return process


def _install_crds(env: Env) -> None:
    """The HelmRelease CRD, established before the operator starts watching it."""
    for args in (
        ("apply", "-f", str(CRDS)),
        (
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/helmreleases.flux.weave.works",
        ),
    ):
        subprocess.run(
            (env.config.kubectl_bin, *args),
            env=env.tool_env,
            check=True,
            capture_output=True,
            timeout=60,
        )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


async def _returncode(process: subprocess.Popen[bytes]) -> int | None:
    return process.poll()
