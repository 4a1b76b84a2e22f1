"""Values sources are watched, not polled: editing a ConfigMap or Secret that a
HelmRelease reads values from upgrades the release at once, with no spec change and
long before a resync; editing a ConfigMap nobody reads wakes nothing; a missing
required ConfigMap created later makes the release recover without a spec change.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from e2etesting import Env, current

from testkit import Scrape, wait_for

pytestmark = pytest.mark.e2e

HELM_STARTED = "helmrelease_helm_processes_started_total"
RECONCILES = "helmrelease_reconcile_total"


def configmap(namespace: str, name: str, message: str, **extra: str) -> dict[str, Any]:
    data = {"values.yaml": f"ui:\n  message: {message}\n", **extra}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def secret(namespace: str, name: str, message: str) -> dict[str, Any]:
    encoded = base64.b64encode(f"ui:\n  message: {message}\n".encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {"values.yaml": encoded},
    }


def reading(env: Env, namespace: str, ref: dict[str, Any]) -> dict[str, Any]:
    return env.helmrelease(namespace, "app", values={"replicaCount": 1}, valuesFrom=[ref])


async def test_an_edited_configmap_upgrades_its_readers_and_others_wake_nothing(
    env: Env, namespace: str
) -> None:
    release = f"{namespace}-app"
    await env.kubectl(
        "create", "configmap", "values", "-n", namespace,
        "--from-literal=values.yaml=ui:\n  message: first\n",
    )  # fmt: skip
    await env.apply(reading(env, namespace, {"configMapKeyRef": {"name": "values"}}))
    hr = await env.wait_ready(namespace, "app", revision=1)
    assert (await env.values(namespace, release))["ui"] == {"message": "first"}

    await env.apply(configmap(namespace, "values", "second"))
    upgraded = await env.wait_ready(namespace, "app", revision=2)
    assert (await env.values(namespace, release))["ui"] == {"message": "second"}
    assert upgraded["metadata"]["generation"] == hr["metadata"]["generation"]

    # A ConfigMap nobody reads, created and edited, then a key the release does not
    # read added to its own: the ConfigMaps' watch delivers them in this order, so the
    # one reconcile that follows (in sync: no helm) comes after the others were seen.
    before = await env.metrics()
    await env.apply(configmap(namespace, "unrelated", "noise"))
    await env.apply(configmap(namespace, "unrelated", "more noise"))
    await env.apply(configmap(namespace, "values", "second", unread="x"))

    async def reconciled_and_idle() -> Scrape | None:
        metrics = await env.metrics()
        noops = metrics.total(RECONCILES, result="noop") - before.total(RECONCILES, result="noop")
        busy = metrics.total("helmrelease_workers_busy") + metrics.total("helmrelease_queue_depth")
        return metrics if noops > 0 and busy == 0 else None

    after = await wait_for(reconciled_and_idle, what="a no-op reconcile after the edits")
    assert after.total(HELM_STARTED) == before.total(HELM_STARTED)
    assert after.total(RECONCILES) - before.total(RECONCILES) == 1
    hr_after = await env.hr(namespace, "app")
    assert hr_after is not None
    assert hr_after["status"]["lastReleaseRevision"] == 2


async def test_an_edited_secret_upgrades_its_reader(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    await env.apply(secret(namespace, "values", "first"))
    await env.apply(reading(env, namespace, {"secretKeyRef": {"name": "values"}}))
    await env.wait_ready(namespace, "app", revision=1)

    await env.apply(secret(namespace, "values", "second"))
    await env.wait_ready(namespace, "app", revision=2)
    assert (await env.values(namespace, release))["ui"] == {"message": "second"}


async def test_a_missing_configmap_created_later_recovers_without_a_spec_change(
    env: Env, namespace: str
) -> None:
    release = f"{namespace}-app"
    await env.apply(reading(env, namespace, {"configMapKeyRef": {"name": "late"}}))
    failed = await env.wait_hr(
        namespace, "app", lambda hr: current(hr).get("status") == "False", what="Ready False"
    )
    assert "late" in current(failed)["message"], current(failed)

    await env.apply(configmap(namespace, "late", "arrived"))
    hr = await env.wait_ready(namespace, "app", revision=1)
    assert hr["metadata"]["generation"] == failed["metadata"]["generation"]
    assert (await env.values(namespace, release))["ui"] == {"message": "arrived"}
