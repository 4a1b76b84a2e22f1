"""Harness of the metrics tests: a real Prometheus as a child process (the operator is
``testkit.OperatorProcess``), and a HelmRelease to apply and wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import ChildProcess, kubectl, wait_for

PROMETHEUS = shutil.which("prometheus", path="/usr/bin:/usr/local/bin:/bin")
HELMRELEASES = GroupResource("flux.weave.works", "helmreleases")
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Prometheus:
    process: ChildProcess
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

    async def ready(self) -> bool:
        self.process.check_running()
        with contextlib.suppress(aiohttp.ClientError):
            async with self.session.get(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT) as response:
                return response.status == 200
        return False


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
    async with ChildProcess(argv, work / "prometheus.log", env=env) as process:
        server = Prometheus(process, f"http://127.0.0.1:{port}", session)
        await wait_for(server.ready, what="Prometheus to be ready")
        yield server


async def apply_podinfo(
    apiserver: ApiServer, env: Mapping[str, str], repository: str, replicas: int, generation: int
) -> None:
    """kubectl apply of the HelmRelease ``podinfo`` (podinfo 6.7.1 from ``repository``, with
    ``replicas``), then wait until it is Ready at ``generation`` of its spec."""
    manifest = {
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {
            "chart": {"repository": f"{repository}/", "name": "podinfo", "version": "6.7.1"},
            "values": {"replicaCount": replicas},
        },
    }
    await kubectl(env, "apply", "-f", "-", stdin=json.dumps(manifest))

    def ready() -> bool:
        entry = apiserver.store.get(HELMRELEASES, "default", "podinfo")
        status = (entry.obj.get("status") or {}) if entry is not None else {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        observed = status.get("observedGeneration") == generation
        return observed and conditions.get("Ready") == "True"

    await wait_for(ready, what=f"HelmRelease podinfo to be Ready at generation {generation}")
