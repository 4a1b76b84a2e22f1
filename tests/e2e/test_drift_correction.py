"""Drift detection and correction end to end (``spec.driftDetection``, helm-controller's).

Each HelmRelease is checked at every reconcile in sync, so ``interval: 2s`` makes the
drift interval two seconds. Mode ``enabled``: a deleted Deployment is created again and
a changed replica count set back, with the Drifted condition and an Event saying so.
Mode ``warn``: the change is reported (Drifted True, naming the object and the field)
and left as it is. An ignore rule keeps a field another manager owns (an HPA's
``/spec/replicas``) while the rest of the object is still corrected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from e2etesting import Env, condition

from testkit import wait_for

pytestmark = pytest.mark.e2e

INTERVAL = "2s"
IMAGE = "ghcr.io/stefanprodan/podinfo"


def workload(namespace: str, name: str) -> str:
    """podinfo's Deployment of HelmRelease ``name`` (its release ``<namespace>-<name>``)."""
    return f"{namespace}-{name}-podinfo"[:63].rstrip("-")


def drifting(env: Env, namespace: str, name: str, **drift: Any) -> dict[str, Any]:
    return env.helmrelease(namespace, name, interval=INTERVAL, driftDetection=drift)


async def deployment(env: Env, namespace: str, name: str) -> dict[str, Any] | None:
    done = await env.kubectl(
        "get", "deployment", name, "-n", namespace, "-o", "json", "--ignore-not-found"
    )
    return json.loads(done.stdout) if done.stdout.strip() else None


async def patch(env: Env, namespace: str, name: str, body: Mapping[str, Any]) -> None:
    await env.kubectl(
        "patch", "deployment", name, "-n", namespace, "--type", "merge", "-p", json.dumps(body)
    )


def drifted(reason: str, *words: str) -> Any:
    def check(hr: Mapping[str, Any]) -> bool:
        found = condition(hr, "Drifted")
        return found.get("reason") == reason and all(w in found.get("message", "") for w in words)

    return check


async def replicas_become(env: Env, namespace: str, name: str, count: int) -> None:
    async def check() -> bool | None:
        found = await deployment(env, namespace, name)
        return True if found is not None and found["spec"]["replicas"] == count else None

    await wait_for(check, what=f"deployment {namespace}/{name} at {count} replicas", within=60)


async def corrections(env: Env, namespace: str) -> list[str]:
    """The notes of the DriftCorrected Events of ``namespace`` (the condition moves on to
    NoDriftDetected at the next check, which a correction's own write wakes at once)."""
    events = await env.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json")
    return [e["note"] for e in events.json()["items"] if e.get("reason") == "DriftCorrected"]


async def corrected(env: Env, namespace: str, *words: str) -> str:
    async def found() -> str | None:
        notes = await corrections(env, namespace)
        return next((note for note in notes if all(word in note for word in words)), None)

    return await wait_for(found, what=f"a DriftCorrected Event saying {words}", within=60)


async def test_enabled_mode_recreates_a_deleted_deployment_and_resets_a_scaled_one(
    env: Env, namespace: str
) -> None:
    await env.apply(drifting(env, namespace, "fixed", mode="enabled"))
    await env.wait_ready(namespace, "fixed")
    release = workload(namespace, "fixed")
    await env.wait_hr(namespace, "fixed", drifted("NoDriftDetected"), what="checked, no drift")

    await env.kubectl("delete", "deployment", release, "-n", namespace)
    await corrected(env, namespace, f"Deployment {namespace}/{release} is missing")
    assert await deployment(env, namespace, release) is not None

    await patch(env, namespace, release, {"spec": {"replicas": 3}})
    await replicas_become(env, namespace, release, 1)
    await corrected(env, namespace, f"Deployment {namespace}/{release} (/spec/replicas)")
    hr = await env.wait_hr(namespace, "fixed", drifted("NoDriftDetected"), what="checked again")
    assert condition(hr, "Drifted")["status"] == "False"
    assert condition(hr, "Ready")["status"] == "True"
    history = await env.history(namespace, f"{namespace}-fixed")
    assert len(history) == 1  # corrected without helm


async def test_warn_mode_reports_and_leaves_the_change(env: Env, namespace: str) -> None:
    await env.apply(drifting(env, namespace, "watched", mode="warn"))
    await env.wait_ready(namespace, "watched")
    release = workload(namespace, "watched")
    await patch(env, namespace, release, {"spec": {"replicas": 3}})
    hr = await env.wait_hr(
        namespace,
        "watched",
        drifted("DriftDetected", f"Deployment {namespace}/{release}", "/spec/replicas"),
        what="drift reported",
    )
    assert condition(hr, "Drifted")["status"] == "True"
    assert condition(hr, "Ready")["status"] == "True"  # reported, not a failure
    found = await deployment(env, namespace, release)
    assert found is not None
    assert found["spec"]["replicas"] == 3


async def test_an_ignore_rule_keeps_a_field_another_manager_owns(env: Env, namespace: str) -> None:
    rule = {"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}
    await env.apply(drifting(env, namespace, "scaled", mode="enabled", ignore=[rule]))
    await env.wait_ready(namespace, "scaled")
    release = workload(namespace, "scaled")
    found = await deployment(env, namespace, release)
    assert found is not None
    container = found["spec"]["template"]["spec"]["containers"][0]
    image = container["image"]
    # an autoscaler's replicas, and an image changed by hand in the same object
    await patch(env, namespace, release, {"spec": {"replicas": 4}})
    changed = {"name": container["name"], "image": f"{IMAGE}:0.0.1"}
    await env.kubectl(
        "set",
        "image",
        f"deployment/{release}",
        f"{changed['name']}={changed['image']}",
        "-n",
        namespace,
    )

    async def image_back() -> dict[str, Any] | None:
        live = await deployment(env, namespace, release)
        containers = live["spec"]["template"]["spec"]["containers"] if live else []
        return live if containers and containers[0]["image"] == image else None

    live = await wait_for(image_back, what="the image set back", within=60)
    assert live["spec"]["replicas"] == 4
