"""Switching from the Flux Helm Operator, as docs/migrating-from-helm-operator.md says.

Releases are installed the way helm-operator installed them: plain helm, under its default
names, their objects annotated with the antecedent of their HelmRelease (the 1.x key, or
the 0.10 one). The HelmReleases then come to the running operator unchanged, in both
APIs: a release that holds what its HelmRelease declares is adopted without a single helm
process; one whose values differ is adopted and upgraded once; one whose objects name
another HelmRelease, or no HelmRelease at all, is refused and left as it is.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2etesting import SEED_API_VERSION, Env, condition, current

from testkit import Scrape, wait_for

pytestmark = pytest.mark.e2e

HELM_STARTED = "helmrelease_helm_processes_started_total"
ANTECEDENT = "helm.fluxcd.io/antecedent"
OLD_ANTECEDENT = "flux.weave.works/antecedent"


async def install_as_helm_operator(
    env: Env, namespace: str, release: str, replicas: int, antecedent: dict[str, str]
) -> None:
    """``helm upgrade --install`` of podinfo 6.7.1, then its objects annotated as
    helm-operator annotated them after every install."""
    await env.helm(
        *("upgrade", "--install", release, "podinfo", "-n", namespace),
        *("--repo", f"{env.chart_repo_url}/", "--version", "6.7.1"),
        *("--set", f"replicaCount={replicas}"),
    )
    if not antecedent:
        return  # installed by hand: nothing names an owner
    manifest = (await env.helm("get", "manifest", release, "-n", namespace)).stdout
    notes = [f"{key}={value}" for key, value in antecedent.items()]
    await env.kubectl("annotate", "--overwrite", "-n", namespace, "-f", "-", *notes, stdin=manifest)


def owned_by(namespace: str, name: str, key: str = ANTECEDENT) -> dict[str, str]:
    return {key: f"{namespace}:helmrelease/{name}"}


async def idle(env: Env, before: Scrape) -> Scrape:
    """The operator's metrics once its queue and workers are idle again."""

    async def quiet() -> Scrape | None:
        metrics = await env.metrics()
        busy = metrics.total("helmrelease_workers_busy") + metrics.total("helmrelease_queue_depth")
        reconciled = metrics.total("helmrelease_reconcile_total") > before.total(
            "helmrelease_reconcile_total"
        )
        return metrics if reconciled and busy == 0 else None

    return await wait_for(quiet, what="the operator to be idle")


async def test_releases_of_helm_operator_are_adopted_without_helm(env: Env, namespace: str) -> None:
    await install_as_helm_operator(
        env, namespace, f"{namespace}-web", 1, owned_by(namespace, "web")
    )
    await install_as_helm_operator(
        env, namespace, f"{namespace}-legacy", 1, owned_by(namespace, "legacy", OLD_ANTECEDENT)
    )
    before = await env.metrics()

    await env.apply(env.helmrelease(namespace, "web"))  # helm.fluxcd.io/v1
    legacy = env.helmrelease(namespace, "legacy")
    await env.apply({**legacy, "apiVersion": SEED_API_VERSION})
    web = await env.wait_ready(namespace, "web", revision=1)
    old = await env.wait_ready(namespace, "legacy", revision=1, kind="fhr")

    after = await idle(env, before)
    assert after.total(HELM_STARTED) == before.total(HELM_STARTED)  # not one helm process
    for hr, release in ((web, f"{namespace}-web"), (old, f"{namespace}-legacy")):
        status = hr["status"]
        assert (status["phase"], status["releaseStatus"]) == ("Succeeded", "deployed")
        assert (status["revision"], status["releaseName"]) == ("6.7.1", release)
        released = condition(hr, "Released")
        assert (released["status"], released["reason"]) == ("True", "Succeeded")
        assert "adopted" in released["message"]
        assert [h["revision"] for h in await env.history(namespace, release)] == [1]


async def test_an_adopted_release_that_differs_is_upgraded_once(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    await install_as_helm_operator(env, namespace, release, 1, owned_by(namespace, "app"))

    await env.apply(env.helmrelease(namespace, "app", values={"replicaCount": 2}))
    await env.wait_ready(namespace, "app", revision=2)
    assert await env.values(namespace, release) == {"replicaCount": 2}
    assert [h["revision"] for h in await env.history(namespace, release)] == [1, 2]


@pytest.mark.parametrize(
    "antecedent",
    [{ANTECEDENT: "elsewhere:helmrelease/app"}, {}],
    ids=["another HelmRelease's", "nobody's"],
)
async def test_a_release_of_someone_else_is_refused_and_left_alone(
    env: Env, namespace: str, antecedent: dict[str, str]
) -> None:
    release = f"{namespace}-app"
    await install_as_helm_operator(env, namespace, release, 1, antecedent)
    records = await env.release_records(namespace, release)

    await env.apply(env.helmrelease(namespace, "app", values={"replicaCount": 2}))

    def refused(hr: dict[str, Any]) -> bool:
        return current(hr, "Stalled").get("reason") == "ReleaseRefused"

    hr = await env.wait_hr(namespace, "app", refused, what="refused")
    assert current(hr).get("status") == "False"
    assert await env.release_records(namespace, release) == records
    assert await env.values(namespace, release) == {"replicaCount": 1}
    await env.kubectl("delete", "hr", "app", "-n", namespace, "--timeout=60s")
    assert await env.release_records(namespace, release) == records  # never ours to remove
