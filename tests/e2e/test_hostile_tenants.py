"""One hostile release never hurts the others, nor the operator.

Against the operator process, all at once: three releases of a repository that never
answers (each holds a worker for seconds, not for the minutes a fetch may take: they say
they wait for their repository), one of a repository with a large index (read as a stream:
installed), values nested deeper than any values file needs, and a repository URL whose
host cannot be read. Meanwhile an unrelated release converges on a change, the operator
stays alive and answers /healthz, and every attacked release says what is wrong, with an
Event. Needs the in-memory API server (its store): not run against a cluster. The attacks
are testkit.hostile's, which the bench also times (scenario 13).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from e2etesting import condition, stored

from apiserver import ApiServer
from testkit import ChartRepository, OperatorProcess, kubectl, wait_for
from testkit.hostile import (
    BAD_URL,
    DEEP,
    LARGE,
    SLOW,
    NeverAnswers,
    attacks,
    helmrelease,
    large_repository,
)

pytestmark = pytest.mark.e2e


def said(apiserver: ApiServer, name: str, kind: str) -> dict[str, Any]:
    return dict(condition(stored(apiserver, name), kind))


async def test_hostile_releases_leave_the_others_and_the_operator_alone(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    never = NeverAnswers()
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
                *attacks(slow=f"{slow.url}/", large=f"{large.url}/", good=f"{good.url}/"),
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
            await wait_for(lambda: ready(LARGE), what="the release of the large index Ready")
            stalled = said(apiserver, DEEP, "Stalled")
            assert "spec.values: is nested deeper than 100 levels" in stalled["message"]
            bad = said(apiserver, BAD_URL, "Stalled")
            assert "spec.chart.repository: is not a valid URL" in bad["message"]

            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{operator.url}/healthz") as health,
            ):
                assert health.status == 200
            events = await kubectl(helm_env, "get", "events.events.k8s.io", "-o", "json")
            told = {e["regarding"]["name"] for e in json.loads(events.stdout)["items"]}
            assert {*SLOW, DEEP, BAD_URL} <= told
            operator.check_running()
        finally:
            never.release()
