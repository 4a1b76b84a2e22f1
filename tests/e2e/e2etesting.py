"""Harness of the end-to-end suite: the API server, chart repository and operator it runs against.

By default everything is local: the in-memory API server (with workload simulation) as
a subprocess, the test chart repository (``testkit.ChartRepository``) served from a
thread of the test process, and the operator (``testkit.OperatorProcess``) as a
subprocess. With ``E2E_KUBECONFIG`` set, that cluster is used instead; the chart
repository listens on every interface and is advertised as
``http://$E2E_CHART_REPO_HOST:PORT``; with ``E2E_OPERATOR_DEPLOYED=1`` the operator is
the one deployed in ``E2E_OPERATOR_NAMESPACE`` (stopped and started by scaling its
Deployment), otherwise a local process against that cluster.

Tests see one ``Env``: kubectl/helm with private homes, ``apply``, waiting on a
HelmRelease, the operator's metrics and logs. The background processes are plain
``subprocess.Popen`` children and the repository has a loop of its own, so nothing of
theirs lives in a test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import (
    ChartRepository,
    ChildProcess,
    Completed,
    OperatorProcess,
    Scrape,
    helm_bin,
    kubectl_bin,
    register_crds,
    run,
    tool_env,
    wait_for,
)

HR_API_VERSION = "helm.fluxcd.io/v1"
"""The API of the HelmReleases the suite makes (helm-operator 1.x's; ``hr`` in kubectl)."""
SEED_API_VERSION = "flux.weave.works/v1beta1"
"""The API of the README's example (``fhr`` in kubectl)."""
FINALIZER = "helmreleases.flux.weave.works/finalizer"
OPERATOR_DEPLOYMENT = "helmrelease-operator"
OPERATOR_SELECTOR = "app.kubernetes.io/name=helmrelease-operator"
OPERATOR_METRICS_PORT = 8080
START_TIMEOUT = 30.0
RETRY_INITIAL = 20.0
"""Seconds before the local operator first retries a failed release."""
DEPLOYED_RETRY_INITIAL = 1.0
"""The same for the deployed operator: the default, manifests/ does not change it."""
SERVING = re.compile(r"^http://\S+$", re.MULTILINE)
"""The line the in-memory API server prints once it serves."""


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
            kubectl_bin=kubectl_bin(),
            helm_bin=helm_bin(),
        )


def condition(hr: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The condition ``kind`` of a HelmRelease ({} when it has none)."""
    for body in hr.get("status", {}).get("conditions", []):
        if body.get("type") == kind:
            return dict(body)
    return {}


def stored(
    apiserver: ApiServer, name: str, namespace: str = "default", group: str = "helm.fluxcd.io"
) -> dict[str, Any]:
    """A HelmRelease as the in-memory API server stores it ({} when there is none): for
    the tests that run only against it."""
    entry = apiserver.store.get(GroupResource(group, "helmreleases"), namespace, name)
    return entry.obj if entry is not None else {}


def ready_at(hr: Mapping[str, Any], revision: str) -> Mapping[str, Any] | None:
    """The status of a HelmRelease Ready with ``status.revision`` ``revision``, else None."""
    status = hr.get("status") or {}
    if status.get("revision") == revision and condition(hr, "Ready").get("status") == "True":
        return status
    return None


def current(hr: Mapping[str, Any], kind: str = "Ready") -> Mapping[str, Any]:
    """Condition ``kind`` if it was written for the HelmRelease's current generation, else {}."""
    found = condition(hr, kind)
    if found.get("observedGeneration") != hr["metadata"].get("generation"):
        return {}
    return found


class Operator(Protocol):
    """The operator under test, local process (``OperatorProcess``) or deployed."""

    async def ready(self) -> None: ...
    async def stop(self) -> None: ...
    async def start(self) -> None: ...
    async def metrics(self) -> Scrape: ...
    async def logs(self) -> str: ...


def local_operator(
    kubeconfig: Path, work: Path, *flags: str, name: str = "operator"
) -> OperatorProcess:
    """The operator as a child process, as the suite runs it (``flags`` add or override)."""
    return OperatorProcess(
        work,
        *("--workers", "4", "--shutdown-grace", "20"),
        *("--log-level", "debug"),  # the most verbose logs: none of it may show a value
        # Long enough that no test outlives a first retry: a failed release must be
        # attempted exactly once until its spec changes.
        *("--retry-initial", str(RETRY_INITIAL)),
        # A release locked by helm is waited for its timeout plus this margin (the
        # longest a helm of ours can live): short here, as the suite's timeouts are.
        *("--helm-deadline-margin", "3"),
        *flags,
        kubeconfig=kubeconfig,
        name=name,
    )


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

    async def metrics(self) -> Scrape:
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
        return Scrape.parse(*pages)

    async def logs(self) -> str:
        return (
            await self._kubectl(
                "logs", "-l", OPERATOR_SELECTOR, "--all-containers", "--tail=-1", "--prefix"
            )
        ).stdout


class RepositoryThread:
    """The test chart repository, served on a loop of its own thread (for the session)."""

    def __init__(self, host: str) -> None:
        self.repository = ChartRepository(host=host)
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="e2e-chart-repository")

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT) or self._failure is not None:
            raise RuntimeError(f"the chart repository did not start: {self._failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by start()
            self._failure = error
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.repository:
            self._started.set()
            await self._stop.wait()


class Env:
    """What a test works with: the cluster through kubectl/helm, the chart repository URL
    and the operator."""

    def __init__(self, config: Config, kubeconfig: Path, work: Path, chart_repo_url: str) -> None:
        self.config = config
        self.kubeconfig = kubeconfig
        self.chart_repo_url = chart_repo_url
        self.tool_env = tool_env(work / "home", kubeconfig)
        self.retry_initial = DEPLOYED_RETRY_INITIAL if config.operator_deployed else RETRY_INITIAL
        """Seconds before the operator first retries a failed release (then doubling)."""
        self.operator: Operator = (
            DeployedOperator(self, config.operator_namespace)
            if config.operator_deployed
            else local_operator(kubeconfig, work)
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

    async def metrics(self) -> Scrape:
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

    async def hr(self, namespace: str, name: str, kind: str = "hr") -> dict[str, Any] | None:
        """The HelmRelease; ``kind``: ``hr`` (helm.fluxcd.io/v1) or ``fhr`` (v1beta1)."""
        done = await self.kubectl(
            "get", kind, name, "-n", namespace, "-o", "json", "--ignore-not-found"
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
        kind: str = "hr",
    ) -> dict[str, Any]:
        """The HelmRelease once ``accept`` holds for it; the failure shows its last status."""
        last: list[dict[str, Any] | None] = [None]

        async def check() -> dict[str, Any] | None:
            last[0] = await self.hr(namespace, name, kind)
            return last[0] if last[0] is not None and accept(last[0]) else None

        try:
            return await wait_for(check, what=f"{namespace}/{name}: {what}", within=within)
        except AssertionError as error:
            status = json.dumps((last[0] or {}).get("status"), indent=1)
            raise AssertionError(f"{error}; last status: {status}") from None

    async def wait_ready(
        self,
        namespace: str,
        name: str,
        *,
        revision: int | None = None,
        within: float = 60.0,
        kind: str = "hr",
    ) -> dict[str, Any]:
        """The HelmRelease once Ready for its current generation (at ``revision`` if given)."""

        def ready(hr: Mapping[str, Any]) -> bool:
            at_revision = (
                revision is None or hr.get("status", {}).get("lastReleaseRevision") == revision
            )
            return current(hr).get("status") == "True" and at_revision

        what = "Ready" + (f" at revision {revision}" if revision is not None else "")
        return await self.wait_hr(namespace, name, ready, what=what, within=within, kind=kind)

    async def wait_gone(self, namespace: str, name: str, *, within: float = 60.0) -> None:
        async def gone() -> bool | None:
            return True if await self.hr(namespace, name) is None else None

        await wait_for(gone, what=f"HelmRelease {namespace}/{name} to be deleted", within=within)

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
            argv = (sys.executable, "-m", "apiserver", "--kubeconfig", str(kubeconfig))
            apiserver = ChildProcess((*argv, "--simulate-delay", "0.1"), work / "apiserver.log")
            apiserver.launch()
            stack.callback(apiserver.terminate)
            asyncio.run(wait_for(lambda: serving(apiserver), what="the API server to serve"))
        repository = RepositoryThread("0.0.0.0" if config.kubeconfig else "127.0.0.1")
        repository.start()
        stack.callback(repository.stop)
        port = repository.repository.port
        env = Env(config, kubeconfig, work, f"http://{config.chart_repo_host}:{port}")
        if isinstance(env.operator, OperatorProcess):
            # Established before the operator starts watching them.
            asyncio.run(register_crds(kubeconfig))
            env.operator.launch()
            stack.callback(env.operator.terminate)
        yield env


async def serving(apiserver: ChildProcess) -> bool:
    apiserver.check_running()
    return SERVING.search(await apiserver.logs()) is not None
