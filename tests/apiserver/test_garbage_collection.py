"""Garbage collection by ownerReferences, as a real API server and its garbage collector do it.

With the real kubectl: ``--cascade=foreground`` keeps the Deployment (``deletionTimestamp``,
``foregroundDeletion``) and its simulated ReplicaSet until the ReplicaSet's Pod is gone (held
here by a finalizer), then all go; ``--cascade=orphan`` leaves the ReplicaSet without its
reference, the Deployment holding the ``orphan`` finalizer meanwhile; ``--cascade=background``
deletes the Deployment first and its ReplicaSet after; ``--dry-run=server`` (the options'
``dryRun``, in the body) deletes nothing. Over plain HTTP: each kind's default
policy (batch/v1 Jobs orphan, with the real warning; Events take no part), the policy options
and their validation, a dependent with another live owner only losing its reference, dangling
and cross-namespace references, cluster-scoped dependents, non-blocking dependents, and a
second DELETE changing the policy.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from apitesting import DEPLOYMENT, Client, Run

from apiserver import ApiServer
from apiserver.resources import GroupResource
from apiserver.store import WatchEvent
from testkit import wait_for

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
DEPLOYMENTS_PATH = "/apis/apps/v1/namespaces/default/deployments"
CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
EVENTS = "/api/v1/namespaces/default/events"
DEPLOYMENTS = GroupResource("apps", "deployments")
REPLICASETS = GroupResource("apps", "replicasets")
HOLD = "example.com/hold"
JOB_WARNING = (
    '299 - "child pods are preserved by default when jobs are deleted; set '
    "propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress "
    'this warning"'
)


def reference(owner: dict[str, Any], *, block: bool = True) -> dict[str, Any]:
    """An owner reference to ``owner``, as a controller writes it."""
    md = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }


def configmap(name: str, *refs: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if refs:
        metadata["ownerReferences"] = list(refs)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def held_pod(name: str, owner: dict[str, Any]) -> dict[str, Any]:
    """A Pod of ``owner`` that a finalizer keeps until the test lets it go."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": "web"},
            "finalizers": [HOLD],
            "ownerReferences": [reference(owner)],
        },
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
    }


async def simulated_deployment(apiserver: ApiServer, run: Run) -> tuple[dict[str, Any], ...]:
    """The Deployment ``web`` applied with kubectl and the ReplicaSet the simulation made."""
    (await run("kubectl", "apply", "-f", "-", stdin=DEPLOYMENT)).check()

    def replicaset() -> dict[str, Any] | None:
        return next(iter(apiserver.store.objects(REPLICASETS, "default")), None)

    rs = await wait_for(replicaset, what="the Deployment's ReplicaSet")
    deployment = apiserver.store.get_object(DEPLOYMENTS, "default", "web")
    assert rs["metadata"]["ownerReferences"] == [reference(deployment)]
    return deployment, rs


async def kubectl_json(run: Run, *args: str) -> dict[str, Any] | None:
    done = await run("kubectl", "get", *args, "-o", "json", "--ignore-not-found")
    return json.loads(done.check().stdout) if done.stdout.strip() else None


def record_events(apiserver: ApiServer) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    apiserver.store.add_listener(events.append)
    return events


def event_rv(
    events: list[WatchEvent],
    kind: str,
    name: str,
    *,
    finalizers: Any = None,
    released: bool = False,
) -> int:
    """The resourceVersion of the first event of ``kind`` named ``name`` (with ``finalizers``
    when given; without ownerReferences when ``released``)."""
    for event in events:
        md = event.obj["metadata"]
        if event.type != kind or md["name"] != name:
            continue
        if finalizers is not None and md.get("finalizers") != finalizers:
            continue
        if released and "ownerReferences" in md:
            continue
        return event.rv
    seen = [(e.type, e.obj["metadata"]) for e in events]
    raise AssertionError(f"no {kind} event of {name} in {seen}")


async def test_foreground_keeps_the_deployment_until_its_replicaset_and_pods_are_gone(
    apiserver: ApiServer, run: Run
) -> None:
    deployment, rs = await simulated_deployment(apiserver, run)
    pod = held_pod("web-pod", rs)
    (await run("kubectl", "apply", "-f", "-", stdin=json.dumps(pod))).check()
    generation = deployment["metadata"]["generation"]

    (
        await run("kubectl", "delete", "deployment", "web", "--cascade=foreground", "--wait=false")
    ).check()

    held = await kubectl_json(run, "deployment", "web")
    assert held is not None
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["deletionTimestamp"]
    assert held["metadata"]["generation"] == generation + 1
    rs_held = await kubectl_json(run, "replicaset", rs["metadata"]["name"])
    assert rs_held is not None
    assert rs_held["metadata"]["finalizers"] == ["foregroundDeletion"]
    terminating = await kubectl_json(run, "pod", "web-pod")
    assert terminating is not None
    assert terminating["metadata"]["deletionTimestamp"]

    waiter = asyncio.create_task(
        run("kubectl", "wait", "--for=delete", "deployment/web", "--timeout=60s")
    )
    try:
        release = json.dumps({"metadata": {"finalizers": None}})
        (await run("kubectl", "patch", "pod", "web-pod", "--type=merge", "-p", release)).check()
        (await waiter).check()
    finally:
        waiter.cancel()
    assert await kubectl_json(run, "replicaset", rs["metadata"]["name"]) is None
    assert await kubectl_json(run, "pod", "web-pod") is None


async def test_foreground_removes_dependents_before_the_owner(
    apiserver: ApiServer, run: Run
) -> None:
    _, rs = await simulated_deployment(apiserver, run)
    events = record_events(apiserver)
    (await run("kubectl", "delete", "deployment", "web", "--cascade=foreground")).check()
    marked = event_rv(events, "MODIFIED", "web", finalizers=["foregroundDeletion"])
    rs_gone = event_rv(events, "DELETED", rs["metadata"]["name"])
    owner_gone = event_rv(events, "DELETED", "web")
    assert marked < rs_gone < owner_gone


async def test_background_deletes_the_owner_first_and_its_dependents_after(
    apiserver: ApiServer, run: Run
) -> None:
    _, rs = await simulated_deployment(apiserver, run)
    events = record_events(apiserver)
    (await run("kubectl", "delete", "deployment", "web", "--cascade=background")).check()
    assert event_rv(events, "DELETED", "web") < event_rv(events, "DELETED", rs["metadata"]["name"])
    assert not [e for e in events if e.type == "MODIFIED" and e.obj["metadata"]["name"] == "web"]
    assert list(apiserver.store.objects(REPLICASETS, "default")) == []


async def test_orphan_cascade_keeps_the_replicaset_without_its_owner(
    apiserver: ApiServer, run: Run
) -> None:
    _, rs = await simulated_deployment(apiserver, run)
    name = rs["metadata"]["name"]
    events = record_events(apiserver)
    (await run("kubectl", "delete", "deployment", "web", "--cascade=orphan")).check()

    orphaned = await kubectl_json(run, "replicaset", name)
    assert orphaned is not None
    assert "ownerReferences" not in orphaned["metadata"]
    assert await kubectl_json(run, "deployment", "web") is None
    marked = event_rv(events, "MODIFIED", "web", finalizers=["orphan"])
    released = event_rv(events, "MODIFIED", name, released=True)
    assert marked < released < event_rv(events, "DELETED", "web")


async def test_jobs_orphan_their_pods_by_default_with_the_real_warning(client: Client) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1"}],
                }
            },
        },
    }
    created = (await client.post(JOBS, job)).body
    worker = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "once-pod", "ownerReferences": [reference(created)]},
        "spec": {"containers": [{"name": "main", "image": "busybox:1"}]},
    }
    assert (await client.post(PODS, worker)).status == 201

    deleted = await client.delete(f"{JOBS}/once")
    assert deleted.status == 200
    assert deleted.headers["Warning"] == JOB_WARNING
    assert deleted.body["metadata"]["finalizers"] == ["orphan"]  # as answered, before the GC
    assert (await client.get(f"{JOBS}/once")).status == 404
    kept = (await client.get(f"{PODS}/once-pod")).body
    assert "ownerReferences" not in kept["metadata"]

    again = (await client.post(JOBS, {**job, "metadata": {"name": "twice"}})).body
    worker["metadata"] = {"name": "twice-pod", "ownerReferences": [reference(again)]}
    await client.post(PODS, worker)
    background = await client.delete(f"{JOBS}/twice", {"propagationPolicy": "Background"})
    assert "Warning" not in background.headers
    assert (await client.get(f"{PODS}/twice-pod")).status == 404


async def test_events_take_no_part_in_garbage_collection(client: Client) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "seen"},
        "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": "default"},
        "reason": "Seen",
        "message": "seen",
        "type": "Normal",
    }
    assert (await client.post(EVENTS, event)).status == 201
    deleted = await client.delete(f"{EVENTS}/seen", {"propagationPolicy": "Foreground"})
    assert deleted.status == 200
    assert (await client.get(f"{EVENTS}/seen")).status == 404  # no finalizer: gone at once


async def test_a_dependent_with_another_live_owner_only_loses_the_reference(
    client: Client,
) -> None:
    first = (await client.post(CM, configmap("first"))).body
    second = (await client.post(CM, configmap("second"))).body
    shared = configmap("shared", reference(first), reference(second, block=False))
    await client.post(CM, shared)
    await client.delete(f"{CM}/first")
    kept = (await client.get(f"{CM}/shared")).body
    assert kept["metadata"]["ownerReferences"] == [reference(second, block=False)]
    await client.delete(f"{CM}/second")
    assert (await client.get(f"{CM}/shared")).status == 404


async def test_dangling_and_cross_namespace_references_are_collected(client: Client) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "ghost",
        "uid": "00000000-0000-0000-0000-000000000000",
    }
    assert (await client.post(CM, configmap("dangling", ghost))).status == 201
    assert (await client.get(f"{CM}/dangling")).status == 404
    await client.post("/api/v1/namespaces", {"metadata": {"name": "elsewhere"}})
    owner = (await client.post(CM, configmap("owner"))).body
    elsewhere = "/api/v1/namespaces/elsewhere/configmaps"
    created = await client.post(
        elsewhere, configmap("far", reference(owner), namespace="elsewhere")
    )
    assert created.status == 201
    assert (await client.get(f"{elsewhere}/far")).status == 404  # looked for in its namespace
    renamed = {**reference(owner), "name": "someone-else"}
    await client.post(CM, configmap("misnamed", renamed))
    assert (await client.get(f"{CM}/misnamed")).status == 404


async def test_cluster_scoped_dependents(client: Client) -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "rules": []}
    owner = (await client.post(CLUSTER_ROLES, {**role, "metadata": {"name": "owner"}})).body
    child = {**role, "metadata": {"name": "child", "ownerReferences": [reference(owner)]}}
    await client.post(CLUSTER_ROLES, child)
    namespaced_owner = (await client.post(CM, configmap("namespaced"))).body
    invalid = {
        **role,
        "metadata": {"name": "invalid", "ownerReferences": [reference(namespaced_owner)]},
    }
    await client.post(CLUSTER_ROLES, invalid)

    await client.delete(f"{CLUSTER_ROLES}/owner")
    await client.delete(f"{CM}/namespaced")
    assert (await client.get(f"{CLUSTER_ROLES}/child")).status == 404
    # a cluster-scoped dependent of a namespaced owner is never collected
    assert (await client.get(f"{CLUSTER_ROLES}/invalid")).status == 200


async def test_non_blocking_dependents_do_not_hold_a_foreground_deletion(client: Client) -> None:
    owner = (await client.post(CM, configmap("parent"))).body
    loose = configmap("loose", reference(owner, block=False))
    loose["metadata"]["finalizers"] = [HOLD]
    await client.post(CM, loose)
    deleted = await client.delete(f"{CM}/parent", {"propagationPolicy": "Foreground"})
    assert deleted.body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert (await client.get(f"{CM}/parent")).status == 404
    going = (await client.get(f"{CM}/loose")).body
    assert going["metadata"]["deletionTimestamp"]


async def test_a_second_delete_may_change_the_policy(client: Client) -> None:
    owner = (await client.post(CM, configmap("switch"))).body
    blocker = configmap("blocker", reference(owner))
    blocker["metadata"]["finalizers"] = [HOLD]
    await client.post(CM, blocker)
    marked = await client.delete(f"{CM}/switch", {"propagationPolicy": "Foreground"})
    assert marked.body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert (await client.get(f"{CM}/switch")).status == 200  # held by the blocker
    again = await client.delete(f"{CM}/switch", {"propagationPolicy": "Foreground"})
    assert again.body["metadata"]["resourceVersion"] == marked.body["metadata"]["resourceVersion"]
    await client.delete(f"{CM}/switch", {"propagationPolicy": "Background"})
    assert (await client.get(f"{CM}/switch")).status == 404


async def test_delete_options_are_validated(client: Client) -> None:
    await client.post(CM, configmap("opts"))
    bogus = await client.delete(f"{CM}/opts", {"propagationPolicy": "Sideways"})
    assert bogus.status == 422
    assert bogus.body["reason"] == "Invalid"
    assert bogus.body["message"] == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
        '"Sideways": supported values: "Foreground", "Background", "Orphan", "nil"'
    )
    both = await client.delete(
        f"{CM}/opts", {"propagationPolicy": "Orphan", "orphanDependents": True}
    )
    assert both.status == 422
    assert both.body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "Orphan": orphanDependents and deletionPropagation '
            "cannot be both set",
            "field": "propagationPolicy",
        }
    ]
    by_query = await client.delete(f"{CM}/opts", propagationPolicy="Orphan")
    assert by_query.status == 200
    assert (await client.get(f"{CM}/opts")).status == 404


async def test_the_older_orphan_dependents_option(client: Client) -> None:
    owner = (await client.post(CM, configmap("old-style"))).body
    await client.post(CM, configmap("kept", reference(owner)))
    await client.delete(f"{CM}/old-style", {"orphanDependents": True})
    kept = (await client.get(f"{CM}/kept")).body
    assert "ownerReferences" not in kept["metadata"]


async def test_kubectl_server_dry_run_delete_keeps_the_object(
    apiserver: ApiServer, run: Run
) -> None:
    await simulated_deployment(apiserver, run)
    dry = await run("kubectl", "delete", "deployment", "web", "--dry-run=server")
    assert "(server dry run)" in dry.check().stdout  # the options' dryRun is in the body
    kept = await kubectl_json(run, "deployment", "web")
    assert kept is not None
    assert "deletionTimestamp" not in kept["metadata"]
