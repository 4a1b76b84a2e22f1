"""SIGTERM drains, a second SIGTERM stops at once: the operator process with a helm that hangs.

The API server here plays no workload controllers, so ``helm install --wait`` never sees
its Deployment become ready and waits for the whole of its (long) timeout: an in-flight
reconcile that only ends when it is made to. After the first SIGTERM the operator keeps
waiting for it (the grace period is longer than the test); the second one makes it kill
helm and exit 0 at once, leaving the release pending for the next start to unlock.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from apiserver import ApiServer
from apiserver.store import GroupResource
from testkit import ChartRepository, OperatorProcess, kubectl, register_crds, tool_env, wait_for

DEPLOYMENTS = GroupResource("apps", "deployments")
GRACE = "3600"
"""Seconds of shutdown grace and of helm's timeout: longer than any run of the suite."""
EXIT_LIMIT = 60.0
"""Seconds the operator may take to exit after the second signal: only bounds a failure."""


@pytest.fixture
async def idle_cluster(tmp_path: Path) -> AsyncIterator[ApiServer]:
    """An API server where nothing ever becomes ready, its kubeconfig in ``tmp_path``."""
    async with ApiServer(simulate=False) as api:
        await api.write_kubeconfig(tmp_path / "kubeconfig")
        await register_crds(tmp_path / "kubeconfig")
        yield api


def helm_release(repository: str) -> dict[str, Any]:
    return {
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo", "namespace": "default"},
        "spec": {
            "chart": {"repository": f"{repository}/", "name": "podinfo", "version": "6.7.1"},
            "wait": True,
            "timeout": int(GRACE),
        },
    }


def helm_children(pid: int) -> list[int]:
    """Child processes of ``pid`` that run helm (the operator's only children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children if _is_helm(int(child))]


def _is_helm(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    return bool(argv) and os.path.basename(argv[0]) in (b"helm", b"helm3")


async def test_second_signal_kills_helm_and_exits_without_waiting_for_the_grace(
    idle_cluster: ApiServer, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    helm: list[int] = []
    try:
        async with (
            ChartRepository() as repository,
            OperatorProcess(tmp_path, "--shutdown-grace", GRACE, kubeconfig=kubeconfig) as operator,
        ):
            env = tool_env(tmp_path / "home", kubeconfig)
            await kubectl(env, "apply", "-f", "-", stdin=json.dumps(helm_release(repository.url)))
            await wait_for(
                lambda: idle_cluster.store.get(DEPLOYMENTS, "default", "default-podinfo"),
                what="helm to create the Deployment and wait for it",
            )
            helm.extend(helm_children(operator.pid))
            assert helm, "the operator runs no helm"

            os.kill(operator.pid, signal.SIGTERM)
            await wait_for(
                lambda: _logged(operator, "shutting down: draining"), what="the drain to begin"
            )
            operator.check_running()  # still draining: helm is still waiting
            assert all(_is_helm(pid) for pid in helm), "the first signal must not stop helm"

            os.kill(operator.pid, signal.SIGTERM)
            async with asyncio.timeout(EXIT_LIMIT):
                assert await operator.exited() == 0, operator.log_tail()
            assert not any(_is_helm(pid) for pid in helm), "helm outlived the operator"
            logs = await operator.logs()
            assert "stopping now" in logs
            assert "stopped" in logs.splitlines()[-1]
    finally:
        _kill_survivors(helm)  # a failed run must not leave helm waiting for an hour


def _kill_survivors(pids: list[int]) -> None:
    for pid in pids:
        if _is_helm(pid):
            os.kill(pid, signal.SIGKILL)


async def _logged(operator: OperatorProcess, text: str) -> bool:
    return text in await operator.logs_since_launch()
