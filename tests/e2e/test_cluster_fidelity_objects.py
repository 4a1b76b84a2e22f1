"""What a real cluster shows of a released Deployment's objects, checked with kubectl: the
in-memory API server must show the same.

A change of the Deployment's selector is refused as immutable, with the real message. A
foreground deletion (``kubectl delete --cascade=foreground``) keeps the Deployment, marked
with ``foregroundDeletion``, while its ReplicaSets are there: held here by a finalizer of the
test, a ReplicaSet loses its Pods first (on a cluster they terminate; the in-memory server
simulates none), and the Deployment goes only once the ReplicaSets are gone.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2etesting import Env

from testkit import wait_for

pytestmark = pytest.mark.e2e

HOLD = "e2e.example.com/hold"
NAME_LABEL = "app.kubernetes.io/name"


def workload(namespace: str, name: str) -> str:
    """podinfo's Deployment of HelmRelease ``name`` (its release ``<namespace>-<name>``)."""
    return f"{namespace}-{name}-podinfo"[:63].rstrip("-")


async def get(env: Env, namespace: str, *what: str) -> dict[str, Any] | None:
    done = await env.kubectl("get", *what, "-n", namespace, "-o", "json", "--ignore-not-found")
    return json.loads(done.stdout) if done.stdout.strip() else None


async def set_finalizers(
    env: Env, namespace: str, replicasets: list[dict[str, Any]], finalizers: list[str] | None
) -> None:
    """Set (None: clear) the finalizers of each of ``replicasets``."""
    patch = json.dumps({"metadata": {"finalizers": finalizers}})
    for rs in replicasets:
        name = rs["metadata"]["name"]
        await env.kubectl("patch", "replicaset", name, "-n", namespace, "--type=merge", "-p", patch)


async def owned(env: Env, namespace: str, kind: str, owner_uids: set[str]) -> list[dict[str, Any]]:
    """The objects of ``kind`` in ``namespace`` that one of ``owner_uids`` owns."""
    listed = await get(env, namespace, kind)
    return [
        item
        for item in (listed or {}).get("items", [])
        if any(ref["uid"] in owner_uids for ref in item["metadata"].get("ownerReferences", []))
    ]


async def test_a_released_deployment_selector_is_immutable_and_foreground_deletion_goes_bottom_up(
    env: Env, namespace: str
) -> None:
    await env.apply(env.helmrelease(namespace, "fidelity"))
    await env.wait_ready(namespace, "fidelity")
    name = workload(namespace, "fidelity")
    deployment = await get(env, namespace, "deployment", name)
    assert deployment is not None

    moved = {
        "spec": {
            "selector": {"matchLabels": {NAME_LABEL: "moved"}},
            "template": {"metadata": {"labels": {NAME_LABEL: "moved"}}},
        }
    }
    refused = await env.kubectl(
        *("patch", "deployment", name, "-n", namespace, "--type=merge"),
        *("-p", json.dumps(moved)),
        check=False,
    )
    assert refused.code != 0
    assert (
        f'The Deployment "{name}" is invalid: spec.selector: Invalid value: '
        f'{{"matchLabels":{{"{NAME_LABEL}":"moved"}}}}: field is immutable'
    ) in refused.stderr

    replicasets = await owned(env, namespace, "replicasets", {deployment["metadata"]["uid"]})
    assert replicasets
    rs_uids = {rs["metadata"]["uid"] for rs in replicasets}
    await set_finalizers(env, namespace, replicasets, [HOLD])

    await env.kubectl(
        "delete", "deployment", name, "-n", namespace, "--cascade=foreground", "--wait=false"
    )

    async def replicasets_emptied() -> bool | None:
        """Every ReplicaSet deleted, without Pods, and let go by the garbage collector (only
        the test's finalizer left)."""
        left = await owned(env, namespace, "replicasets", {deployment["metadata"]["uid"]})
        if len(left) != len(replicasets) or await owned(env, namespace, "pods", rs_uids):
            return None
        done = all(
            rs["metadata"].get("deletionTimestamp") and rs["metadata"].get("finalizers") == [HOLD]
            for rs in left
        )
        return done or None

    await wait_for(replicasets_emptied, what="the ReplicaSets emptied of their Pods", within=120)
    held = await get(env, namespace, "deployment", name)
    assert held is not None  # its ReplicaSets block it
    assert held["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in held["metadata"]["finalizers"]

    await set_finalizers(env, namespace, replicasets, None)
    await env.kubectl(
        "wait", "--for=delete", f"deployment/{name}", "-n", namespace, "--timeout=120s"
    )
    assert await owned(env, namespace, "replicasets", {deployment["metadata"]["uid"]}) == []
