"""One hostile release never hurts the others, nor the operator.

Against the operator process, all at once: three releases of a repository that never
answers (each holds a worker for seconds, not for the minutes a fetch may take: they say
they wait for their repository), one of a repository with a large index (read as a stream:
installed), values nested deeper than any values file needs, and a repository URL whose
host cannot be read. Meanwhile an unrelated release converges on a change, the operator
stays alive and answers /healthz, and every attacked release says what is wrong, with an
Event. Needs the in-memory API server (its store): not run against a cluster.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from e2etesting import condition, stored

from apiserver import ApiServer
from testkit import CHARTS_DIR, ChartRepository, OperatorProcess, kubectl, wait_for

pytestmark = pytest.mark.e2e

PODINFO = "podinfo-6.7.1.tgz"
SLOW = ("slow-1", "slow-2", "slow-3")


def helmrelease(name: str, repository: str, values: Any = None) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "chart": {"repository": repository, "name": "podinfo", "version": "6.7.1"},
            "values": values if values is not None else {"replicaCount": 1},
        },
    }


def large_repository(root: Path) -> None:
    """podinfo in an index of some 10 MiB of other charts."""
    shutil.copy(CHARTS_DIR / PODINFO, root / PODINFO)
    entry = "  - {{name: c{n}, version: 1.0.{v}, urls: [c{n}-1.0.{v}.tgz], description: {text}}}\n"
    text = "x" * 150
    parts = [
        "apiVersion: v1\nentries:\n",
        f"  podinfo:\n  - {{version: 6.7.1, urls: [{PODINFO}]}}\n",
    ]
    for n in range(1000):
        parts.append(f"  c{n}:\n")
        parts.extend(entry.format(n=n, v=v, text=text) for v in range(50))
    (root / "index.yaml").write_text("".join(parts))


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value


def said(apiserver: ApiServer, name: str, kind: str) -> dict[str, Any]:
    return dict(condition(stored(apiserver, name), kind))


async def test_hostile_releases_leave_the_others_and_the_operator_alone(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    release = asyncio.Event()

    async def never(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=503)

    large_root = tmp_path / "large"
    large_root.mkdir()
    await asyncio.to_thread(large_repository, large_root)
    flags = ("--workers", "2", "--chart-fetch-wait", "1")
    async with (
        ChartRepository() as good,
        ChartRepository() as slow,
        ChartRepository(large_root) as large,
        OperatorProcess(tmp_path, *flags, kubeconfig=kubeconfig) as operator,
    ):
        slow.faults["/index.yaml"] = never
        try:
            hostile = [
                *(helmrelease(name, f"{slow.url}/") for name in SLOW),
                helmrelease("large", f"{large.url}/"),
                helmrelease("deep", f"{good.url}/", nested(150)),
                helmrelease("bad-url", "http://[::1/charts"),
                helmrelease("steady", f"{good.url}/"),
            ]
            for manifest in hostile:
                await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(manifest))

            def ready(name: str) -> bool:
                return said(apiserver, name, "Ready").get("status") == "True"

            await wait_for(lambda: ready("steady"), what="the unrelated release Ready")
            changed = helmrelease("steady", f"{good.url}/", {"replicaCount": 2})
            await kubectl(helm_env, "apply", "-f", "-", stdin=json.dumps(changed))

            def upgraded() -> bool:
                status = stored(apiserver, "steady").get("status") or {}
                return status.get("lastReleaseRevision") == 2 and ready("steady")

            await wait_for(upgraded, what="the unrelated release upgraded", within=30)
            for name in SLOW:
                waiting = said(apiserver, name, "Reconciling")
                assert waiting.get("reason") == "FetchingChart", (name, waiting)
            await wait_for(lambda: ready("large"), what="the release of the large index Ready")
            stalled = said(apiserver, "deep", "Stalled")
            assert "spec.values: is nested deeper than 100 levels" in stalled["message"]
            bad = said(apiserver, "bad-url", "Stalled")
            assert "spec.chart.repository: is not a valid URL" in bad["message"]

            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{operator.url}/healthz") as health,
            ):
                assert health.status == 200
            events = await kubectl(helm_env, "get", "events.events.k8s.io", "-o", "json")
            told = {e["regarding"]["name"] for e in json.loads(events.stdout)["items"]}
            assert {*SLOW, "deep", "bad-url"} <= told
            operator.check_running()
        finally:
            release.set()
