"""Workload simulation: the statuses helm's waits and tests read, and failure on purpose.

Covers Deployments (a controlled ReplicaSet with the template plus pod-template-hash, ready
status fields and conditions, a new ReplicaSet on a template change with the old one scaled
to zero, garbage collection of the ReplicaSet), StatefulSets, DaemonSets, PVCs and
LoadBalancer Services; the rules telling what a container does (a table of pods, each
through the API: ``exit N`` shells, endless commands, anything else, the outcome and fail
annotations, failing images, ``--unready`` with a readinessProbe) under each restart
policy, down to the container states the kubelet writes; Jobs ending as their pod does;
and workloads that never become ready until a new template replaces the unready one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from apitesting import Client

from apiserver import ApiServer
from apiserver.resources import GroupResource
from apiserver.simulate.simulator import (
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    PODS,
    PVCS,
    REPLICASETS,
    SERVICES,
    STATEFULSETS,
)
from apiserver.store import WatchEvent
from testkit import wait_for

PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/default/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/default/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/default/daemonsets",
    "Job": "/apis/batch/v1/namespaces/default/jobs",
    "Pod": "/api/v1/namespaces/default/pods",
    "PersistentVolumeClaim": "/api/v1/namespaces/default/persistentvolumeclaims",
    "Service": "/api/v1/namespaces/default/services",
}
MERGE = "application/merge-patch+json"
PROBE = {"exec": {"command": ["podcli", "check", "http", "localhost:9898/readyz"]}}
SERVER = {"name": "app", "image": "nginx:1"}
UNREADY = {**SERVER, "args": ["--port=9898", "--unready"], "readinessProbe": PROBE}


def container(*argv: str, **fields: Any) -> dict[str, Any]:
    """A container running ``argv`` (command and args split as podinfo's test pods do)."""
    command = {"command": [argv[0]], "args": list(argv[1:])} if argv else {}
    return {"name": "main", "image": "alpine:3", **command, **fields}


def pod(
    name: str,
    main: dict[str, Any],
    restart: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [main]}
    if restart is not None:
        spec["restartPolicy"] = restart
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": spec,
    }


def workload(kind: str, name: str, main: dict[str, Any] = SERVER, **extra: Any) -> dict[str, Any]:
    """A valid Deployment, StatefulSet, DaemonSet or Job running ``main``."""
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [main]},
    }
    spec: dict[str, Any] = {"template": template, **extra}
    if kind == "Job":
        template["spec"].setdefault("restartPolicy", "Never")
    else:
        spec["selector"] = {"matchLabels": {"app": name}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {
        "apiVersion": "batch/v1" if kind == "Job" else "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


async def create(client: Client, obj: dict[str, Any]) -> dict[str, Any]:
    reply = await client.post(PATHS[obj["kind"]], obj)
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.body
    return created


async def replace_containers(client: Client, deployment: str, *containers: Any) -> None:
    """A new pod template for ``deployment``, as an upgrade changing its containers makes."""
    change = {"spec": {"template": {"spec": {"containers": list(containers)}}}}
    reply = await client.patch(f"{PATHS['Deployment']}/{deployment}", change, MERGE)
    assert reply.status == 200, reply.body


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


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


def owned_replicasets(api: ApiServer, uid: str) -> list[dict[str, Any]]:
    return [
        rs
        for rs in api.store.objects(REPLICASETS, "default")
        if any(r["uid"] == uid for r in rs["metadata"].get("ownerReferences", []))
    ]


async def test_deployment_gets_a_controlled_replicaset_and_becomes_ready(
    apiserver: ApiServer, client: Client
) -> None:
    created = await create(client, workload("Deployment", "web", replicas=2))
    ready = await settled(apiserver, DEPLOYMENTS, "web", has_status)
    status = ready["status"]
    assert status["observedGeneration"] == ready["metadata"]["generation"]
    assert (
        status["replicas"],
        status["updatedReplicas"],
        status["readyReplicas"],
        status["availableReplicas"],
    ) == (2, 2, 2, 2)
    assert conditions(status)["Available"] == ("True", "MinimumReplicasAvailable")
    assert conditions(status)["Progressing"] == ("True", "NewReplicaSetAvailable")
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


async def test_template_change_rolls_out_a_new_replicaset(
    apiserver: ApiServer, client: Client
) -> None:
    created = await create(client, workload("Deployment", "roll"))
    await settled(apiserver, DEPLOYMENTS, "roll", has_status)
    await replace_containers(client, "roll", {**SERVER, "image": "nginx:2"})
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
    assert (await client.delete(f"{PATHS['Deployment']}/roll")).status == 200
    assert owned_replicasets(apiserver, created["metadata"]["uid"]) == []


async def test_failing_deployment_never_becomes_available(
    apiserver: ApiServer, client: Client
) -> None:
    await create(client, workload("Deployment", "bad", main={**SERVER, "image": "example/fail:1"}))
    marked = workload("Deployment", "marked")
    marked["metadata"]["annotations"] = {"apiserver.testing/fail": "true"}
    created = await create(client, marked)
    failed = await settled(apiserver, DEPLOYMENTS, "bad", has_status)
    assert conditions(failed["status"])["Available"] == ("False", "MinimumReplicasUnavailable")
    assert failed["status"]["readyReplicas"] == 0
    marked = await settled(apiserver, DEPLOYMENTS, "marked", has_status)
    assert marked["status"]["readyReplicas"] == 0
    [rs] = owned_replicasets(apiserver, created["metadata"]["uid"])
    rs = await settled(apiserver, REPLICASETS, rs["metadata"]["name"], has_status)
    assert (rs["status"]["replicas"], rs["status"]["readyReplicas"]) == (1, 0)


async def test_unready_deployment_recovers_when_a_new_template_drops_unready(
    apiserver: ApiServer, client: Client
) -> None:
    created = await create(client, workload("Deployment", "podinfo", UNREADY, replicas=2))
    unready = (await settled(apiserver, DEPLOYMENTS, "podinfo", has_status))["status"]
    assert (unready["replicas"], unready["updatedReplicas"]) == (2, 2)
    assert (unready["readyReplicas"], unready["availableReplicas"]) == (0, 0)
    assert conditions(unready) == {
        "Available": ("False", "MinimumReplicasUnavailable"),
        "Progressing": ("True", "ReplicaSetUpdated"),
    }
    [rs] = owned_replicasets(apiserver, created["metadata"]["uid"])
    rs = await settled(apiserver, REPLICASETS, rs["metadata"]["name"], has_status)
    assert (rs["status"]["replicas"], rs["status"]["readyReplicas"]) == (2, 0)

    await replace_containers(client, "podinfo", {**UNREADY, "args": ["--port=9898"]})
    ready = await settled(
        apiserver, DEPLOYMENTS, "podinfo", lambda d: d["status"]["observedGeneration"] == 2
    )
    assert (ready["status"]["readyReplicas"], ready["status"]["availableReplicas"]) == (2, 2)
    assert conditions(ready["status"])["Available"] == ("True", "MinimumReplicasAvailable")
    scaled = {
        r["metadata"]["name"]: r["spec"]["replicas"]
        for r in owned_replicasets(apiserver, created["metadata"]["uid"])
    }
    assert scaled.pop(rs["metadata"]["name"]) == 0
    [(current, replicas)] = scaled.items()
    assert replicas == 2
    rs = await settled(apiserver, REPLICASETS, current, has_status)
    assert rs["status"]["readyReplicas"] == 2


async def test_statefulset_and_daemonset_are_ready_unless_unready(
    apiserver: ApiServer, client: Client
) -> None:
    await create(client, workload("StatefulSet", "db", replicas=3))
    await create(client, workload("DaemonSet", "agent"))
    await create(client, workload("StatefulSet", "db-unready", UNREADY, replicas=3))
    await create(client, workload("DaemonSet", "agent-unready", UNREADY))
    sts = (await settled(apiserver, STATEFULSETS, "db", has_status))["status"]
    assert sts["readyReplicas"] == sts["updatedReplicas"] == 3
    assert sts["currentRevision"] == sts["updateRevision"]
    ds = (await settled(apiserver, DAEMONSETS, "agent", has_status))["status"]
    assert ds["numberReady"] == ds["desiredNumberScheduled"] == ds["updatedNumberScheduled"] == 1
    sts = (await settled(apiserver, STATEFULSETS, "db-unready", has_status))["status"]
    assert (sts["updatedReplicas"], sts["readyReplicas"]) == (3, 0)
    ds = (await settled(apiserver, DAEMONSETS, "agent-unready", has_status))["status"]
    assert (ds["updatedNumberScheduled"], ds["numberReady"]) == (1, 0)


UNREADY_JOB = container("./podinfo", "--unready", readinessProbe=PROBE)
SHELL_LOOP = container("/bin/sh", "-c", "while sleep 3600; do :; done")
SUCCEEDED = ("Succeeded", "False", "PodCompleted", "terminated", "Completed", 0)
RUNS_READY = ("Running", "True", "", "running", None, None)
RUNS_UNREADY = ("Running", "False", "ContainersNotReady", "running", None, None)


def failed(code: int) -> tuple[Any, ...]:
    return ("Failed", "False", "PodFailed", "terminated", "Error", code)


def crash_looping(code: int) -> tuple[Any, ...]:
    return ("Running", "False", "ContainersNotReady", "waiting", "CrashLoopBackOff", code)


POD_CASES: dict[str, tuple[dict[str, Any], str | None, dict[str, str], tuple[Any, ...]]] = {
    # name: (container, restartPolicy, annotations) -> what the kubelet writes
    "exit-1": (container("/bin/sh", "-c", "exit 1"), "Never", {}, failed(1)),
    "exit-0": (container("bash", "-c", "exit 0"), "Never", {}, SUCCEEDED),
    "sleep-then-exit-3": (container("sh", "-c", "sleep 5\nexit 3\n"), "Never", {}, failed(3)),
    "curl-script": (
        container("sh", "-c", "curl -s ${PODINFO_SVC}/api/info | grep version\n"),
        "Never",
        {},
        SUCCEEDED,
    ),
    "probe-binary": (
        container("grpc_health_probe", "-addr=podinfo:9999"),
        "OnFailure",
        {},
        SUCCEEDED,
    ),
    "while-sleep": (SHELL_LOOP, "Never", {}, RUNS_READY),
    "sleep-infinity": (container("sleep", "infinity"), "Never", {}, RUNS_READY),
    "tail-f": (container("tail", "-f", "/dev/null"), "OnFailure", {}, RUNS_READY),
    "on-failure-restarts": (container("sh", "-c", "exit 2"), "OnFailure", {}, crash_looping(2)),
    "outcome-run": (
        container("sh", "-c", "exit 1"),
        "Never",
        {"apiserver.testing/outcome": "run"},
        RUNS_READY,
    ),
    "outcome-fail": (container(), "Never", {"apiserver.testing/outcome": "fail"}, failed(1)),
    "outcome-succeed": (
        SHELL_LOOP,
        "Never",
        {"apiserver.testing/outcome": "succeed"},
        SUCCEEDED,
    ),
    "fail-annotation": (container(), "Never", {"apiserver.testing/fail": "true"}, failed(1)),
    "fail-image": (container(image="example/fail:1"), "Never", {}, failed(1)),
    "always-serves": (SERVER, None, {}, RUNS_READY),
    "always-restarts-after-exit-0": (
        container("sh", "-c", "exit 0"),
        "Always",
        {},
        crash_looping(0),
    ),
    "always-fail-image": (container(image="example/fail:1"), None, {}, crash_looping(1)),
    "unready": (UNREADY, "Always", {}, RUNS_UNREADY),
    "unready-without-probe": (
        container("./podinfo", "--port=9898", "--unready"),
        "Always",
        {},
        RUNS_READY,
    ),
}


def kubelet_wrote(status: dict[str, Any]) -> tuple[Any, ...]:
    """(phase, Ready, its reason, container state, its reason, exit code) of a one-container
    pod; the exit code of a restarted container is in its last state."""
    [written] = status["containerStatuses"]
    [(state, detail)] = written["state"].items()
    exited = written["lastState"].get("terminated") or detail
    ready, reason = conditions(status)["Ready"]
    assert conditions(status)["ContainersReady"] == (ready, reason)
    assert status["startTime"]
    return (status["phase"], ready, reason, state, detail.get("reason"), exited.get("exitCode"))


async def test_pods_end_as_their_commands_say(apiserver: ApiServer, client: Client) -> None:
    for name, (main, restart, marks, _) in POD_CASES.items():
        await create(client, pod(name, main, restart, marks))
    written = {
        name: kubelet_wrote((await settled(apiserver, PODS, name, has_status))["status"])
        for name in POD_CASES
    }
    assert written == {name: case[3] for name, case in POD_CASES.items()}


async def test_an_unready_pod_names_its_unready_containers(
    apiserver: ApiServer, client: Client
) -> None:
    two = pod("two", UNREADY)
    two["spec"]["containers"].insert(0, {"name": "web", "image": "nginx:1"})
    await create(client, two)
    status = (await settled(apiserver, PODS, "two", has_status))["status"]
    assert [c["ready"] for c in status["containerStatuses"]] == [True, False]
    [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert (ready["reason"], ready["message"]) == (
        "ContainersNotReady",
        "containers with unready status: [app]",
    )


JOB_CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any], tuple[Any, ...]]] = {
    # name: (container, restartPolicy, Job spec fields) -> (counts, conditions)
    "completes": (
        container("sh", "-c", "exit 0"),
        "Never",
        {},
        ({"succeeded": 1}, {"SuccessCriteriaMet": "True", "Complete": "True"}),
    ),
    "completes-twice": (
        container("grpc_health_probe", "-addr=podinfo:9999"),
        "OnFailure",
        {"completions": 2},
        ({"succeeded": 2}, {"SuccessCriteriaMet": "True", "Complete": "True"}),
    ),
    "fails-each-try": (
        container("sh", "-c", "exit 1"),
        "Never",
        {"backoffLimit": 2},
        ({"failed": 3}, {"FailureTarget": "True", "Failed": "True"}),
    ),
    "fails-default-limit": (
        container(image="example/fail:1"),
        "Never",
        {},
        ({"failed": 7}, {"FailureTarget": "True", "Failed": "True"}),
    ),
    "fails-restarting": (
        container("sh", "-c", "exit 1"),
        "OnFailure",
        {"backoffLimit": 2},
        ({"failed": 1}, {"FailureTarget": "True", "Failed": "True"}),
    ),
    "runs": (SHELL_LOOP, "Never", {}, ({"active": 1, "ready": 1}, {})),
    "runs-unready": (UNREADY_JOB, "Never", {}, ({"active": 1}, {})),
}


def job_outcome(status: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """The counts of a Job's status (those it has) and its conditions' status."""
    assert status["startTime"]
    counts = {k: status[k] for k in ("succeeded", "failed", "active", "ready") if status.get(k)}
    return counts, {c["type"]: c["status"] for c in status.get("conditions", [])}


async def test_jobs_end_as_their_pod(apiserver: ApiServer, client: Client) -> None:
    for name, (main, restart, spec, _) in JOB_CASES.items():
        job = workload("Job", name, main, **spec)
        job["spec"]["template"]["spec"]["restartPolicy"] = restart
        await create(client, job)
    statuses = {
        name: (await settled(apiserver, JOBS, name, has_status))["status"] for name in JOB_CASES
    }
    assert {name: job_outcome(status) for name, status in statuses.items()} == {
        name: case[3] for name, case in JOB_CASES.items()
    }
    reasons = {c["reason"] for c in statuses["fails-each-try"]["conditions"]}
    assert reasons == {"BackoffLimitExceeded"}


async def test_a_job_annotation_forces_its_outcome(apiserver: ApiServer, client: Client) -> None:
    job = workload("Job", "forced", container("sh", "-c", "exit 1"))
    job["metadata"]["annotations"] = {"apiserver.testing/outcome": "succeed"}
    await create(client, job)
    status = (await settled(apiserver, JOBS, "forced", has_status))["status"]
    assert conditions(status)["Complete"] == ("True", "CompletionsReached")


async def test_claims_bind_and_load_balancers_get_an_address(
    apiserver: ApiServer, client: Client
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await create(client, claim)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    await create(client, service)
    bound = (await settled(apiserver, PVCS, "data", has_status))["status"]
    assert bound == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    lb = (await settled(apiserver, SERVICES, "lb", has_status))["status"]
    assert lb["loadBalancer"]["ingress"][0]["ip"]
