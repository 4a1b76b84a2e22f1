"""Never two helm processes on one release, even across an operator crash.

The operator is SIGKILLed alone while its helm upgrade waits on a Deployment that never
becomes ready (a 60 s helm timeout): that helm dies with it (it is tied to the operator's
life), long before its timeout. The release stays pending-install; a new operator waits
for the longest a helm of its predecessor could have lived (the spec's timeout, now 3 s,
plus the deadline margin), takes the release over and releases the fixed spec: helm's
history shows one deployed revision. Needs the in-memory API server and a local
operator (it kills the process): not run against a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2etesting import condition, stored

from apiserver import ApiServer
from testkit import ChartRepository, OperatorProcess, kubectl, run, wait_for
from testkit.tools import helm_bin

pytestmark = pytest.mark.e2e

NAMESPACE = "default"
NAME = "crash"
RELEASE = f"{NAMESPACE}-{NAME}"
NEVER_READY = {"faults": {"unready": True}, "replicaCount": 2}


def helmrelease(repository: str, values: dict[str, Any], timeout: int) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "chart": {"repository": f"{repository}/", "name": "podinfo", "version": "6.7.1"},
            "values": values,
            "wait": True,
            "timeout": timeout,
        },
    }


def helm_processes() -> list[int]:
    """Pids of the helm processes working on the release (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if b"upgrade" in argv and RELEASE.encode() in argv and argv[0].endswith(b"helm"):
            found.append(int(entry.name))
    return found


async def pending(env: dict[str, str]) -> bool:
    """Whether helm has recorded the release as being installed (it then holds it)."""
    selector = f"owner=helm,name={RELEASE}"
    done = await kubectl(env, "get", "secrets", "-n", NAMESPACE, "-l", selector, "-o", "json")
    items = json.loads(done.stdout)["items"]
    return any(item["metadata"]["labels"].get("status") == "pending-install" for item in items)


def operator(tmp_path: Path, kubeconfig: Path, name: str) -> OperatorProcess:
    return OperatorProcess(
        tmp_path, "--helm-deadline-margin", "2", kubeconfig=kubeconfig, name=name
    )


async def test_a_crashed_operators_helm_dies_with_it_and_is_not_doubled(
    apiserver: ApiServer, crds: None, kubeconfig: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    async with ChartRepository() as repository:
        first = operator(tmp_path, kubeconfig, "first")
        await first.start()
        try:
            manifest = json.dumps(helmrelease(repository.url, NEVER_READY, 60))
            await kubectl(helm_env, "apply", "-f", "-", stdin=manifest)
            await wait_for(lambda: helm_processes() or None, what="helm upgrading the release")
            await wait_for(lambda: pending(helm_env), what="the release record pending-install")
        finally:
            first.kill()  # the operator alone: its helm has a process group of its own
        await wait_for(
            lambda: not helm_processes(), what="the helm of the killed operator gone", within=20
        )

        fixed = json.dumps(helmrelease(repository.url, {"replicaCount": 1}, 3))
        await kubectl(helm_env, "apply", "-f", "-", stdin=fixed)
        async with operator(tmp_path, kubeconfig, "second"):

            def ready() -> bool:
                hr = stored(apiserver, NAME)
                return condition(hr, "Ready").get("status") == "True"

            await wait_for(ready, what="the fixed spec released by the new operator", within=60)
        done = await run((helm_bin(), "history", RELEASE, "-n", NAMESPACE, "-o", "json"), helm_env)
        statuses = [entry["status"] for entry in json.loads(done.check().stdout)]
        assert statuses.count("deployed") == 1, statuses
