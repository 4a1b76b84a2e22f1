"""Charts from git, end to end: the operator, real git and helm, a git server on loopback.

A HelmRelease whose chart is a directory of a git repository (helm-operator's
``chart.git``, ``ref``, ``path``, with credentials from ``secretRef``) installs, with
``status.revision`` the commit; a commit to the chart's directory upgrades it at the
next poll (``--git-poll-interval`` of one second here) and ``status.revision`` follows
HEAD; a commit elsewhere in the repository starts no helm (the chart deployed is the
same: ``status.revision`` moves to the new HEAD without an upgrade); ``valuesFrom.chartFileRef``
reads a file of the git chart. Needs the in-memory API server (it reads the store) and a
git server the operator can reach on loopback: not run against a cluster.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2etesting import ready_at, stored

from apiserver import ApiServer
from testkit import (
    CHARTS_DIR,
    GitServer,
    OperatorProcess,
    Scrape,
    chart_files,
    commit_files,
    helm_bin,
    init_bare,
)
from testkit.tools import kubectl, run
from testkit.waiting import wait_for

pytestmark = pytest.mark.e2e

CHART = "charts/podinfo"
USER, PASSWORD = "reader", "git-e2e-password"
HELM_STARTED = "helmrelease_helm_processes_started_total"
RECONCILES = "helmrelease_reconcile_total"
NAMESPACE = "default"


def helmrelease(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "from-git", "namespace": NAMESPACE},
        "spec": {
            "releaseName": "from-git",
            "chart": {"git": url, "ref": "master", "path": CHART, "secretRef": {"name": "git"}},
            "valuesFrom": [{"chartFileRef": {"path": "ci/message-values.yaml"}}],
        },
    }


def secret() -> dict[str, Any]:
    data = {"username": USER, "password": PASSWORD}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git", "namespace": NAMESPACE},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


async def test_a_git_chart_follows_its_directory(
    apiserver: ApiServer,
    crds: None,
    kubeconfig: Path,
    helm_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bare = init_bare(tmp_path / "served", "charts.git")
    values = {f"{CHART}/ci/message-values.yaml": b"ui:\n  message: from git\n"}
    first = await asyncio.to_thread(
        commit_files,
        bare,
        {**chart_files(CHARTS_DIR / "podinfo-6.7.1.tgz", CHART), **values},
        "podinfo",
    )
    manifests = tmp_path / "manifests.yaml"
    async with (
        GitServer(bare.parent, credentials=(USER, PASSWORD)) as server,
        OperatorProcess(tmp_path, "--git-poll-interval", "1s", kubeconfig=kubeconfig) as operator,
    ):
        documents = [secret(), helmrelease(f"{server.url}/charts.git")]
        await asyncio.to_thread(manifests.write_text, yaml.safe_dump_all(documents))
        await kubectl(helm_env, "apply", "-f", str(manifests))

        def status_at(commit: str) -> Mapping[str, Any] | None:
            return ready_at(stored(apiserver, "from-git"), commit)

        installed = await wait_for(lambda: status_at(first), what="installed from git")
        assert installed["lastReleaseRevision"] == 1
        assert installed["lastAttemptedRevision"] == first
        got = await run((helm_bin(), "get", "values", "from-git", "-o", "json"), helm_env)
        assert '"from git"' in got.check().stdout  # read from the chart by chartFileRef

        before = await operator.metrics()
        elsewhere = await asyncio.to_thread(commit_files, bare, {"README.md": b"docs\n"}, "docs")

        async def polled_twice() -> Scrape | None:
            now = await operator.metrics()
            return now if now.total(RECONCILES) >= before.total(RECONCILES) + 2 else None

        after = await wait_for(polled_twice, what="two polls of the repository")
        assert after.total(HELM_STARTED) == before.total(HELM_STARTED)
        # the chart at the new HEAD is the one deployed: no upgrade, the status follows
        same = await wait_for(lambda: status_at(elsewhere), what="revision at the new HEAD")
        assert same["lastReleaseRevision"] == 1

        inside = await asyncio.to_thread(
            commit_files,
            bare,
            {f"{CHART}/ci/message-values.yaml": b"ui:\n  message: newer\n"},
            "chart",
        )
        upgraded = await wait_for(lambda: status_at(inside), what="upgraded to the new commit")
        assert upgraded["lastReleaseRevision"] == 2
