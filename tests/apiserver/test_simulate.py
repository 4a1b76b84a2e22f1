"""Workload simulation: the statuses helm's waits look at, and failure on purpose.

Covers Deployments (a controlled ReplicaSet with the template plus
pod-template-hash, ready status fields and conditions, a new ReplicaSet on a
template change with the old one scaled to zero, garbage collection of the
ReplicaSet), StatefulSets, DaemonSets, Jobs, bare and hook Pods, PVCs, LoadBalancer
Services, and workloads marked to fail by image or annotation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from apiserver import ApiServer
from apiserver.resources import GroupResource
from apiserver.store import WatchEvent
from testkit import wait_for

DEPLOYMENTS = GroupResource("apps", "deployments")
REPLICASETS = GroupResource("apps", "replicasets")
STATEFULSETS = GroupResource("apps", "statefulsets")
DAEMONSETS = GroupResource("apps", "daemonsets")
JOBS = GroupResource("batch", "jobs")
PODS = GroupResource("", "pods")
PVCS = GroupResource("", "persistentvolumeclaims")
SERVICES = GroupResource("", "services")


def workload(kind: str, name: str, image: str = "nginx:1", **extra: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }
    group = "batch/v1" if kind == "Job" else "apps/v1"
    spec = {"selector": {"matchLabels": {"app": name}}, "template": template, **extra}
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def pod(
    name: str, image: str = "nginx:1", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


async def settled(
    api: ApiServer,
    resource: GroupResource,
    name: str,
    done: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Wait until the object satisfies ``done``, re-checking at each write to the store."""
    changed = asyncio.Event()

    def on_event(event: WatchEvent) -> None:
        changed.set()

    def current() -> dict[str, Any] | None:
        entry = api.store.get(resource, "default", name)
        return entry.obj if entry is not None and done(entry.obj) else None

    api.store.add_listener(on_event)
    try:
        return await wait_for(current, what=f"{resource} default/{name} to settle", changed=changed)
    finally:
        api.store.remove_listener(on_event)


def has_status(obj: dict[str, Any]) -> bool:
    return bool(obj.get("status"))


def owned_replicasets(api: ApiServer, uid: str) -> list[dict[str, Any]]:
    return [
        rs
        for rs in api.store.objects(REPLICASETS, "default")
        if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences", []))
    ]


async def test_deployment_gets_a_controlled_replicaset_and_becomes_ready(
    apiserver: ApiServer,
) -> None:
    created = apiserver.store.create(DEPLOYMENTS, workload("Deployment", "web", replicas=2), {})
    ready = await settled(apiserver, DEPLOYMENTS, "web", has_status)
    status = ready["status"]
    assert status["observedGeneration"] == ready["metadata"]["generation"]
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
    ) == (2, 2, 2, 2)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Available"] == ("True", "MinimumReplicasAvailable")
    assert conditions["Progressing"] == ("True", "NewReplicaSetAvailable")
    [rs] = owned_replicasets(apiserver, created["metadata"]["uid"])
    owner = rs["metadata"]["ownerReferences"][0]
    assert owner["controller"] is True
    assert owner["kind"] == "Deployment"
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    labels = dict(rs["spec"]["template"]["metadata"]["labels"])
    assert labels.pop("pod-template-hash") == template_hash
    assert {**rs["spec"]["template"], "metadata": {"labels": labels}} == created["spec"]["template"]
    rs = await settled(apiserver, REPLICASETS, rs["metadata"]["name"], has_status)
    assert rs["status"]["readyReplicas"] == 2


async def test_template_change_rolls_out_a_new_replicaset(apiserver: ApiServer) -> None:
    created = apiserver.store.create(DEPLOYMENTS, workload("Deployment", "roll"), {})
    await settled(apiserver, DEPLOYMENTS, "roll", has_status)
    entry = apiserver.store.get(DEPLOYMENTS, "default", "roll")
    assert entry is not None
    changed = workload("Deployment", "roll", image="nginx:2")
    changed["metadata"] = entry.obj["metadata"]
    apiserver.store.update(DEPLOYMENTS, changed, entry.managed)
    rolled = await settled(
        apiserver, DEPLOYMENTS, "roll", lambda d: d["status"]["observedGeneration"] == 2
    )
    assert rolled["status"]["readyReplicas"] == 1
    replicasets = owned_replicasets(apiserver, created["metadata"]["uid"])
    images = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["spec"]["replicas"]
        for rs in replicasets
    }
    assert images == {"nginx:1": 0, "nginx:2": 1}
    apiserver.store.delete(DEPLOYMENTS, "default", "roll")
    assert owned_replicasets(apiserver, created["metadata"]["uid"]) == []


async def test_failing_deployment_never_becomes_available(apiserver: ApiServer) -> None:
    apiserver.store.create(DEPLOYMENTS, workload("Deployment", "bad", image="example/fail:1"), {})
    failed = await settled(apiserver, DEPLOYMENTS, "bad", has_status)
    conditions = {c["type"]: c["status"] for c in failed["status"]["conditions"]}
    assert conditions["Available"] == "False"
    assert failed["status"]["readyReplicas"] == 0


async def test_statefulset_and_daemonset_become_ready(apiserver: ApiServer) -> None:
    apiserver.store.create(STATEFULSETS, workload("StatefulSet", "db", replicas=3), {})
    apiserver.store.create(DAEMONSETS, workload("DaemonSet", "agent"), {})
    sts = (await settled(apiserver, STATEFULSETS, "db", has_status))["status"]
    assert sts["readyReplicas"] == sts["updatedReplicas"] == 3
    assert sts["currentRevision"] == sts["updateRevision"]
    ds = (await settled(apiserver, DAEMONSETS, "agent", has_status))["status"]
    assert ds["numberReady"] == ds["desiredNumberScheduled"] == ds["updatedNumberScheduled"] == 1


async def test_jobs_complete_or_fail(apiserver: ApiServer) -> None:
    apiserver.store.create(JOBS, workload("Job", "ok"), {})
    marked = workload("Job", "marked")
    marked["metadata"]["annotations"] = {"apiserver.testing/fail": "true"}
    apiserver.store.create(JOBS, marked, {})
    ok = (await settled(apiserver, JOBS, "ok", has_status))["status"]
    assert ok["succeeded"] == 1
    assert {c["type"] for c in ok["conditions"]} >= {"Complete"}
    failed = (await settled(apiserver, JOBS, "marked", has_status))["status"]
    assert failed["failed"] == 1
    assert {c["type"] for c in failed["conditions"]} >= {"Failed"}


async def test_pods_run_succeed_or_fail(apiserver: ApiServer) -> None:
    apiserver.store.create(PODS, pod("plain"), {})
    apiserver.store.create(PODS, pod("hook", annotations={"helm.sh/hook": "test"}), {})
    apiserver.store.create(PODS, pod("broken", image="example/fail"), {})
    plain = (await settled(apiserver, PODS, "plain", has_status))["status"]
    assert plain["phase"] == "Running"
    assert {c["type"]: c["status"] for c in plain["conditions"]}["Ready"] == "True"
    assert (await settled(apiserver, PODS, "hook", has_status))["status"]["phase"] == "Succeeded"
    assert (await settled(apiserver, PODS, "broken", has_status))["status"]["phase"] == "Failed"


async def test_claims_bind_and_load_balancers_get_an_address(apiserver: ApiServer) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    apiserver.store.create(PVCS, claim, {})
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    apiserver.store.create(SERVICES, service, {})
    bound = (await settled(apiserver, PVCS, "data", has_status))["status"]
    assert bound == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    lb = (await settled(apiserver, SERVICES, "lb", has_status))["status"]
    assert lb["loadBalancer"]["ingress"][0]["ip"]
