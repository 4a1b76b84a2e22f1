"""Failures remediated as helm-operator's guide says, with real helm 4 and helm 3.

One operator per helm major runs every story at once, each in a namespace of its own,
on the in-memory API server with podinfo, whose values make it fail on purpose: with
``faults.unready`` its Deployment never becomes ready (an upgrade with ``--wait``
fails), with ``faults.testFail`` a test Pod exits 1, with ``faults.testTimeout`` a test
Pod runs forever (the in-memory API server plays the kubelet by these rules). The
stories:

- an upgrade fails and is rolled back (RolledBack, the release back at the values of
  revision 1), then a fixed spec upgrades it and the failure is forgotten;
- ``retry`` with ``maxRetries: 1``: two rollbacks, then it stops; ``maxHistory: 3``
  holds all along;
- an upgrade the API server refuses (a value of the wrong type) is not rolled back: the
  deployed revision stays, helm's failed attempt is in its history;
- without rollback: the failed upgrade stays, Released and Deployed False, Stalled;
  a reconcile request (``reconcile.fluxcd.io/requestedAt``) makes exactly one more attempt;
- a failed first install is uninstalled, and a fixed spec installs under the same name;
- tests that pass (Tested, the test hooks in ``helm status``), fail after an install
  (uninstalled), fail after an upgrade with rollback (rolled back), fail but are ignored
  (Ready, Tested False), and time out.

Last, with every release settled, each HelmRelease is reconciled several more times
(resync every second) and no helm process starts: a failed spec is never retried in
a loop. Needs the in-memory API server (it reads the store): not run against a cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from e2etesting import condition, stored

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import ChartRepository, OperatorProcess, Scrape, Unmet, wait_for
from testkit.tools import kubectl, run

Doc = dict[str, Any]
SECRETS = GroupResource("", "secrets")
HELM_TIMEOUT = 4
"""Seconds helm waits for an unready podinfo before the upgrade fails."""
STORY_LIMIT = 120.0
"""Deadline of each step: it only bounds a failure."""
UNREADY = {"faults": {"unready": True}, "replicaCount": 2}
"""Never ready: helm 3 counts a Deployment ready with ``replicas - maxUnavailable`` ready
Pods, and podinfo allows one unavailable, so it takes two replicas to fail helm 3 too."""
RESYNCS = 3
"""Reconciles of every HelmRelease watched, at the end, for a helm process that should not start."""
HELM_STARTED = "helmrelease_helm_processes_started_total"
RECONCILES = "helmrelease_reconcile_total"


@dataclass(frozen=True)
class Story:
    """What one story needs: the cluster, the chart repository and its own namespace."""

    apiserver: ApiServer
    env: Mapping[str, str]
    helm_bin: Path
    repository: str
    namespace: str
    workdir: Path

    def helmrelease(self, name: str, values: Doc | None = None, **spec: Any) -> Doc:
        return {
            "apiVersion": "helm.fluxcd.io/v1",
            "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "releaseName": name,
                "chart": {
                    "repository": f"{self.repository}/",
                    "name": "podinfo",
                    "version": "6.7.1",
                },
                "values": values or {},
                **spec,
            },
        }

    async def apply(self, manifest: Doc) -> None:
        path = self.workdir / f"{self.namespace}-{manifest['metadata']['name']}.yaml"
        await asyncio.to_thread(path.write_text, yaml.safe_dump(manifest))
        await kubectl(self.env, "apply", "-f", str(path))

    def hr(self, name: str) -> Doc | None:
        return stored(self.apiserver, name, self.namespace) or None

    async def until(self, name: str, check: Callable[[Doc], bool], what: str) -> Doc:
        """The HelmRelease once ``check`` holds for its current generation."""

        def settled() -> Doc | None:
            hr = self.hr(name)
            if hr is None or hr.get("status", {}).get("observedGeneration") != generation(hr):
                return None
            return hr if check(hr) else None

        try:
            return await wait_for(
                settled, what=f"{self.namespace}/{name}: {what}", within=STORY_LIMIT
            )
        except Unmet as unmet:
            status = (self.hr(name) or {}).get("status")
            raise Unmet(f"{unmet}; status: {json.dumps(status, indent=1)}") from None

    async def helm(self, *args: str) -> Any:
        done = (
            await run((str(self.helm_bin), *args, "-n", self.namespace, "-o", "json"), self.env)
        ).check()
        return json.loads(done.stdout)

    async def history(self, release: str) -> list[tuple[int, str]]:
        return [
            (entry["revision"], entry["status"]) for entry in await self.helm("history", release)
        ]

    def records(self, release: str) -> list[str]:
        """The names of the release's record Secrets."""
        return sorted(
            secret["metadata"]["name"]
            for secret in self.apiserver.store.objects(SECRETS, self.namespace)
            if (secret["metadata"].get("labels") or {}).get("name") == release
        )


def generation(hr: Doc) -> int:
    return int(hr["metadata"].get("generation", 0))


def said(hr: Doc, kind: str) -> tuple[str | None, str | None]:
    found = condition(hr, kind)
    return found.get("status"), found.get("reason")


def stalled(hr: Doc) -> bool:
    return said(hr, "Stalled") == ("True", "RetriesExceeded")


def ready(hr: Doc) -> bool:
    return said(hr, "Ready")[0] == "True"


# --- the stories ---------------------------------------------------------------------------


async def rollback_then_fixed(story: Story) -> None:
    name = "rolled"
    spec = {"rollback": {"enable": True}, "timeout": HELM_TIMEOUT}
    await story.apply(story.helmrelease(name, **spec))
    await story.until(name, ready, "installed")
    await story.apply(story.helmrelease(name, UNREADY, **spec))
    hr = await story.until(name, stalled, "rolled back, then stopped")
    assert said(hr, "RolledBack") == ("True", "RolledBack")
    assert said(hr, "Released")[0] == "False"
    assert said(hr, "Ready")[0] == "False"
    status = hr["status"]
    assert (status["lastReleaseRevision"], status["releaseStatus"]) == (3, "deployed")
    assert status["rollbackCount"] == 1
    assert await story.history(name) == [(1, "superseded"), (2, "failed"), (3, "deployed")]
    # revision 1's values again (none: helm 4 prints null, helm 3 {})
    assert await story.helm("get", "values", name) in ({}, None)

    await story.apply(story.helmrelease(name, {"ui": {"message": "fixed"}}, **spec))
    hr = await story.until(name, ready, "upgraded by the fixed spec")
    assert hr["status"]["lastReleaseRevision"] == 4
    assert "rollbackCount" not in hr["status"]
    assert not condition(hr, "RolledBack")
    assert "lastFailedDigest" not in hr["status"]


async def retried_once(story: Story) -> None:
    name = "retried"
    spec = {
        "rollback": {"enable": True, "retry": True, "maxRetries": 1},
        "timeout": HELM_TIMEOUT,
        "maxHistory": 3,
    }
    await story.apply(story.helmrelease(name, **spec))
    await story.until(name, ready, "installed")
    await story.apply(story.helmrelease(name, UNREADY, **spec))
    hr = await story.until(
        name, lambda hr: stalled(hr) and hr["status"].get("rollbackCount") == 2, "two rollbacks"
    )
    # install 1, failed 2, rollback 3, failed retry 4, rollback 5: three kept
    assert hr["status"]["lastReleaseRevision"] == 5
    assert await story.history(name) == [(3, "superseded"), (4, "failed"), (5, "deployed")]
    assert len(story.records(name)) == 3


async def rejected_not_rolled_back(story: Story) -> None:
    name = "rejected"
    spec = {"rollback": {"enable": True}, "timeout": HELM_TIMEOUT}
    await story.apply(story.helmrelease(name, **spec))
    await story.until(name, ready, "installed")
    # a value of the wrong type in the Deployment: the API server refuses the object
    await story.apply(story.helmrelease(name, {"replicaCount": "two"}, **spec))
    hr = await story.until(name, stalled, "stopped, not rolled back")
    assert not condition(hr, "RolledBack")
    assert "rollbackCount" not in hr["status"]
    assert "refused by the API server: nothing to roll back" in condition(hr, "Released")["message"]
    # helm recorded its attempt as failed; revision 1 stays the deployed one
    assert await story.history(name) == [(1, "deployed"), (2, "failed")]


async def failure_stays(story: Story) -> None:
    name = "stays"
    spec = {"wait": True, "timeout": HELM_TIMEOUT}
    await story.apply(story.helmrelease(name, **spec))
    await story.until(name, ready, "installed")
    await story.apply(story.helmrelease(name, UNREADY, **spec))
    hr = await story.until(name, stalled, "stopped after the failed upgrade")
    assert said(hr, "Released") == ("False", "DeployFailed")
    assert said(hr, "Deployed") == ("False", "DeployFailed")
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (2, "failed")
    assert "reconcile.fluxcd.io/requestedAt" in condition(hr, "Stalled")["message"]

    requested = story.helmrelease(name, UNREADY, **spec)
    requested["metadata"]["annotations"] = {"reconcile.fluxcd.io/requestedAt": "now"}
    await story.apply(requested)
    hr = await story.until(
        name,
        lambda hr: stalled(hr) and hr["status"].get("lastHandledReconcileAt") == "now",
        "tried once more on request",
    )
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (3, "failed")


async def failed_install_uninstalled(story: Story) -> None:
    name = "purged"
    spec = {"wait": True, "timeout": HELM_TIMEOUT}
    await story.apply(story.helmrelease(name, UNREADY, **spec))
    hr = await story.until(name, stalled, "uninstalled after the failed install")
    assert story.records(name) == []
    assert said(hr, "Deployed")[0] == "False"
    await story.apply(story.helmrelease(name, **spec))
    hr = await story.until(name, ready, "installed by the fixed spec")
    assert hr["status"]["lastReleaseRevision"] == 1


async def passing_tests(story: Story) -> None:
    name = "tested"
    await story.apply(story.helmrelease(name, test={"enable": True}))
    hr = await story.until(name, ready, "installed and tested")
    assert said(hr, "Tested") == ("True", "Tested")
    assert hr["status"]["lastTestedRevision"] == 1
    status = await story.helm("status", name)
    tests = [hook for hook in status["hooks"] if "test" in hook["events"]]
    assert tests
    assert {hook["last_run"]["phase"] for hook in tests} == {"Succeeded"}


async def failing_tests_after_install(story: Story) -> None:
    name = "untested"
    await story.apply(
        story.helmrelease(name, {"faults": {"testFail": True}}, test={"enable": True})
    )
    hr = await story.until(name, stalled, "uninstalled after its tests failed")
    assert said(hr, "Tested") == ("False", "TestFailed")
    assert story.records(name) == []


async def failing_tests_after_upgrade(story: Story) -> None:
    name = "retested"
    spec = {"test": {"enable": True}, "rollback": {"enable": True}}
    await story.apply(story.helmrelease(name, **spec))
    await story.until(name, ready, "installed and tested")
    await story.apply(story.helmrelease(name, {"faults": {"testFail": True}}, **spec))
    hr = await story.until(name, stalled, "rolled back after its tests failed")
    assert said(hr, "RolledBack") == ("True", "RolledBack")
    assert said(hr, "Tested") == ("False", "TestFailed")
    assert await story.history(name) == [(1, "superseded"), (2, "superseded"), (3, "deployed")]


async def ignored_test_failures(story: Story) -> None:
    name = "ignored"
    test = {"enable": True, "ignoreFailures": True}
    await story.apply(story.helmrelease(name, {"faults": {"testFail": True}}, test=test))
    hr = await story.until(
        name, lambda hr: condition(hr, "Tested").get("status") == "False", "tested"
    )
    assert ready(hr)
    assert said(hr, "Released")[0] == "True"
    assert "ignored" in condition(hr, "Released")["message"]


async def endless_tests(story: Story) -> None:
    name = "slow"
    test = {"enable": True, "timeout": 3}
    await story.apply(story.helmrelease(name, {"faults": {"testTimeout": True}}, test=test))
    hr = await story.until(name, stalled, "uninstalled after its tests timed out")
    assert said(hr, "Tested") == ("False", "TestFailed")
    assert story.records(name) == []


STORIES: dict[str, Callable[[Story], Awaitable[None]]] = {
    "rolled-back": rollback_then_fixed,
    "retried": retried_once,
    "stays": failure_stays,
    "rejected": rejected_not_rolled_back,
    "purged": failed_install_uninstalled,
    "tested": passing_tests,
    "untested": failing_tests_after_install,
    "retested": failing_tests_after_upgrade,
    "ignored": ignored_test_failures,
    "slow": endless_tests,
}


async def test_failures_are_remediated_then_left_alone(
    apiserver: ApiServer,
    crds: None,
    kubeconfig: Path,
    helm_env: dict[str, str],
    helm_bin: Path,
    tmp_path: Path,
) -> None:
    async with (
        ChartRepository() as repository,
        OperatorProcess(
            tmp_path,
            *("--workers", "4", "--helm-bin", str(helm_bin)),
            *("--charts-sync-interval", "1s"),
            kubeconfig=kubeconfig,
        ) as operator,
    ):
        stories = {
            key: Story(apiserver, helm_env, helm_bin, repository.url, f"fix-{key}", tmp_path)
            for key in STORIES
        }
        for story in stories.values():
            await kubectl(helm_env, "create", "namespace", story.namespace)
        async with asyncio.TaskGroup() as group:  # one story failing cancels the others
            for key, story in stories.items():
                group.create_task(STORIES[key](story))

        before = await operator.metrics()
        releases = len(stories)  # one HelmRelease per story

        async def resynced() -> Scrape | None:
            now = await operator.metrics()
            done = now.total(RECONCILES) - before.total(RECONCILES)
            return now if done >= RESYNCS * releases else None

        after = await wait_for(resynced, what="every HelmRelease resynced", within=STORY_LIMIT)
        assert after.total(HELM_STARTED) == before.total(HELM_STARTED)
