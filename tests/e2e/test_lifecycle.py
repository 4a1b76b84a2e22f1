"""Release lifecycle end to end: install (named and default release names), upgrades on a
values or chart version change, no helm at all when nothing changed, a values change
that fails to render (old revision kept, not tried again) and its fix, a manual ``helm
rollback`` undone, deletion with the finalizer, and two HelmReleases claiming one release.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2etesting import FINALIZER, SEED_API_VERSION, Env, current

from testkit import Scrape, wait_for

pytestmark = pytest.mark.e2e

HELM_STARTED = "helmrelease_helm_processes_started_total"
RECONCILES = "helmrelease_reconcile_total"


async def test_seed_helmrelease_installs_and_default_name(env: Env, namespace: str) -> None:
    seed = {  # the README's HelmRelease, pointed at the test repository
        "apiVersion": SEED_API_VERSION,
        "kind": "HelmRelease",
        "metadata": {"name": "rabbit", "namespace": namespace},
        "spec": {
            "releaseName": "rabbitmq",
            "chart": {
                "repository": f"{env.chart_repo_url}/",
                "name": "podinfo",
                "version": "6.7.1",
            },
            "values": {"replicas": 1},
        },
    }
    await env.apply(seed)
    await env.apply(env.helmrelease(namespace, "podinfo"))
    for name in ("fhr/rabbit", "hr/podinfo"):  # both APIs, by their short names
        await env.kubectl("wait", "--for=condition=Ready", name, "-n", namespace, "--timeout=60s")

    releases = (await env.helm("list", "-n", namespace, "-o", "json")).json()
    assert {(r["name"], r["status"], r["chart"]) for r in releases} == {
        ("rabbitmq", "deployed", "podinfo-6.7.1"),
        (f"{namespace}-podinfo", "deployed", "podinfo-6.7.1"),
    }
    default_named = await env.hr(namespace, "podinfo")
    assert default_named is not None
    assert default_named["status"]["releaseName"] == f"{namespace}-podinfo"


async def test_upgrades_on_values_and_chart_changes_and_noop(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    await env.apply(env.helmrelease(namespace, "app"))
    await env.wait_ready(namespace, "app", revision=1)

    values = {"replicaCount": 1, "ui": {"message": "second revision"}}
    await env.apply(env.helmrelease(namespace, "app", values=values))
    await env.wait_ready(namespace, "app", revision=2)
    assert await env.values(namespace, release) == values

    upgraded = env.helmrelease(namespace, "app", version="6.11.2", values=values)
    await env.apply(upgraded)
    hr = await env.wait_ready(namespace, "app", revision=3)
    assert hr["status"]["lastAttemptedRevision"] == "6.11.2"
    history = await env.history(namespace, release)
    assert [(h["chart"], h["status"]) for h in history][-1] == ("podinfo-6.11.2", "deployed")

    # The same spec again, and an annotation change (no new generation): a reconcile
    # happens and finds the release in sync; no helm process, no new revision.
    records = await env.release_records(namespace, release)
    before = await env.metrics()
    await env.apply(upgraded)
    await env.kubectl("annotate", "hr", "app", "-n", namespace, "e2e/poke=1", "--overwrite")

    async def reconciled_and_idle() -> Scrape | None:
        metrics = await env.metrics()
        noops = metrics.total(RECONCILES, result="noop") - before.total(RECONCILES, result="noop")
        busy = metrics.total("helmrelease_workers_busy") + metrics.total("helmrelease_queue_depth")
        return metrics if noops > 0 and busy == 0 else None

    after = await wait_for(reconciled_and_idle, what="a no-op reconcile after the annotation")
    assert after.total(HELM_STARTED) == before.total(HELM_STARTED)
    hr_after = await env.hr(namespace, "app")
    assert hr_after is not None
    assert hr_after["metadata"]["generation"] == hr["metadata"]["generation"]
    assert hr_after["status"]["lastReleaseRevision"] == 3
    assert current(hr_after).get("status") == "True"
    assert await env.release_records(namespace, release) == records


async def fail_to_render(env: Env, namespace: str) -> dict[str, Any]:
    """Install ``app``, then give it values that cannot render; the failed HelmRelease."""
    await env.apply(env.helmrelease(namespace, "app"))
    await env.wait_ready(namespace, "app", revision=1)
    # podinfo's templates read .Values.service.<field>: a string there cannot render.
    await env.apply(env.helmrelease(namespace, "app", values={"service": "broken"}))
    return await env.wait_hr(
        namespace,
        "app",
        lambda hr: current(hr, "Stalled").get("reason") == "RetriesExceeded",
        what="stopped after the failure",
    )


async def test_values_that_fail_to_render_keep_the_old_revision(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    failed = await fail_to_render(env, namespace)
    ready = current(failed)
    assert "can't evaluate field" in ready["message"], ready
    assert failed["status"]["phase"].endswith("Failed"), failed["status"]
    assert failed["status"]["lastReleaseRevision"] == 1
    history = await env.history(namespace, release)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed")]

    fixed = {"replicaCount": 1, "ui": {"message": "fixed"}}
    await env.apply(env.helmrelease(namespace, "app", values=fixed))
    await env.wait_ready(namespace, "app", revision=2)
    assert await env.values(namespace, release) == fixed
    history = await env.history(namespace, release)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]


async def test_a_failed_spec_is_not_tried_again(env: Env, namespace: str) -> None:
    before = await env.metrics()
    await fail_to_render(env, namespace)

    # Another release installs meanwhile (status writes, Events, release records): none of
    # it makes the failed one try again; only a change of its spec or values, or a
    # request, would (test_remediation.py watches it through resyncs too).
    await env.apply(env.helmrelease(namespace, "other"))
    await env.wait_ready(namespace, "other", revision=1)
    hr = await env.hr(namespace, "app")
    assert hr is not None
    assert current(hr).get("status") == "False"
    assert current(hr, "Stalled").get("status") == "True"
    after = await env.metrics()
    failed = after.total(RECONCILES, action="upgrade", result="error")
    assert failed - before.total(RECONCILES, action="upgrade", result="error") == 1


async def test_manual_rollback_is_upgraded_back(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    declared = {"replicaCount": 1, "ui": {"message": "declared"}}
    await env.apply(env.helmrelease(namespace, "app", values={"ui": {"message": "first"}}))
    await env.wait_ready(namespace, "app", revision=1)
    await env.apply(env.helmrelease(namespace, "app", values=declared))
    await env.wait_ready(namespace, "app", revision=2)

    await env.helm("rollback", release, "1", "-n", namespace)

    await env.wait_ready(namespace, "app", revision=4)
    assert await env.values(namespace, release) == declared
    history = await env.history(namespace, release)
    assert [(h["revision"], h["status"]) for h in history][-1] == (4, "deployed")


async def test_delete_uninstalls_and_drops_the_finalizer(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    await env.apply(env.helmrelease(namespace, "app"))
    hr = await env.wait_ready(namespace, "app", revision=1)
    assert FINALIZER in hr["metadata"]["finalizers"]

    await env.kubectl("delete", "hr", "app", "-n", namespace, "--timeout=60s")

    assert await env.hr(namespace, "app") is None
    assert await env.history(namespace, release) == []
    assert await env.release_records(namespace, release) == []


async def test_second_helmrelease_for_one_release_is_refused(env: Env, namespace: str) -> None:
    await env.apply(env.helmrelease(namespace, "first", releaseName="shared"))
    await env.wait_ready(namespace, "first", revision=1)
    before = await env.metrics()

    await env.apply(env.helmrelease(namespace, "second", releaseName="shared"))
    refused = await env.wait_hr(
        namespace, "second", lambda hr: current(hr).get("status") == "False", what="Ready False"
    )

    ready = current(refused)
    assert ready["reason"] == "ReleaseRefused", ready
    assert f"HelmRelease {namespace}/first" in ready["message"], ready
    assert (await env.metrics()).total(HELM_STARTED) == before.total(HELM_STARTED)
    history = await env.history(namespace, "shared")
    assert [(h["revision"], h["status"]) for h in history] == [(1, "deployed")]
    first = await env.hr(namespace, "first")
    assert first is not None
    assert current(first).get("status") == "True"
