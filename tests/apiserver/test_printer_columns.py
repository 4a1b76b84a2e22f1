"""Server-side printer columns of the built-in kinds, as the real server prints them.

Covers the real kubectl: ``kubectl get deploy,po,svc,job,cm,secret,ev -o wide`` prints each
kind's columns and cells (ready counts, a pod's status and restarts, ports, a job's status,
completions and duration, data counts, an Event's object and source, selectors, ``<none>``).
Over plain HTTP: each kind's column definitions (name, type, format, priority: 1 for the wide
ones), their descriptions (the API's documentation of each field), and a finished Pod's row
condition. And the printers themselves, object by object: a pod's status through its init
containers, sidecars and containers; a job's status, completions and duration; a service's
external IP and ports; an Event's times, count and source; label selectors; ages.

The server runs without workload simulation: statuses are the ones the tests write.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from apitesting import Client, Run

from apiserver import ApiServer, printers

NS = "/namespaces/default"
MERGE_PATCH = "application/merge-patch+json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
AGE = re.compile(r"\d+s")
"""The age of an object the test just made."""


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    """No workload simulation: nothing but the tests writes statuses."""
    async with ApiServer() as api:
        yield api


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(seconds: int) -> str:
    return stamp(datetime.now(UTC) - timedelta(seconds=seconds))


OBJECTS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    (
        f"/apis/apps/v1{NS}/deployments",
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
                },
                "template": {
                    "metadata": {"labels": {"app": "web", "tier": "a"}},
                    "spec": {
                        "containers": [
                            {"name": "app", "image": "nginx:1.27"},
                            {"name": "sidecar", "image": "busybox:1.36"},
                        ]
                    },
                },
            },
        },
        {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    ),
    (
        f"/api/v1{NS}/pods",
        {
            "metadata": {"name": "web-1"},
            "spec": {
                "nodeName": "node-1",
                "readinessGates": [{"conditionType": "example.com/ready"}],
                "containers": [
                    {"name": "app", "image": "nginx:1.27"},
                    {"name": "sidecar", "image": "busybox:1.36"},
                ],
            },
        },
        None,  # written after creation: the restart time is relative to now
    ),
    (
        f"/api/v1{NS}/services",
        {
            "metadata": {"name": "web"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "web"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
                    {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                ],
            },
        },
        None,
    ),
    (
        f"/apis/batch/v1{NS}/jobs",
        {
            "metadata": {"name": "once"},
            "spec": {
                "completions": 3,
                "parallelism": 2,
                "manualSelector": True,
                "selector": {"matchLabels": {"job": "once"}},
                "template": {
                    "metadata": {"labels": {"job": "once"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "job", "image": "busybox:1.36"}],
                    },
                },
            },
        },
        {
            "startTime": "2026-01-01T00:00:00Z",
            "completionTime": "2026-01-01T00:03:05Z",
            "succeeded": 3,
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    ),
    (
        f"/api/v1{NS}/configmaps",
        {
            "metadata": {"name": "settings"},
            "data": {"a": "1", "b": "2"},
            "binaryData": {"c": "AA=="},
        },
        None,
    ),
    (
        f"/api/v1{NS}/secrets",
        {
            "metadata": {"name": "tls"},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y3J0", "tls.key": "a2V5"},
        },
        None,
    ),
]


async def make_objects(client: Client) -> dict[str, Any]:
    """The objects of every kind, with their statuses; the Service (for its cluster IP)."""
    service: dict[str, Any] = {}
    for path, body, status in OBJECTS:
        reply = await client.post(path, body)
        assert reply.status == 201, reply.body
        if path.endswith("/services"):
            service = reply.body
        if status is not None:
            name = body["metadata"]["name"]
            written = await client.patch(f"{path}/{name}/status", {"status": status}, MERGE_PATCH)
            assert written.status == 200, written.body
    pod_status = {
        "phase": "Running",
        "podIP": "10.244.0.5",
        "podIPs": [{"ip": "10.244.0.5"}],
        "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "example.com/ready", "status": "True"},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "ready": True,
                "restartCount": 2,
                "state": {"running": {"startedAt": ago(60)}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(65)}},
            },
            {
                "name": "sidecar",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            },
        ],
    }
    pods = f"/api/v1{NS}/pods/web-1/status"
    assert (await client.patch(pods, {"status": pod_status}, MERGE_PATCH)).status == 200
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default"},
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": "example.com/scaler",
        "reportingInstance": "scaler-1",
        "action": "Scale",
        "reason": "ScaledUp",
        "note": "scaled web up to 3 replicas",
        "type": "Normal",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    }
    assert (await client.post(f"/apis/events.k8s.io/v1{NS}/events", event)).status == 201
    return service


def tables(output: str) -> list[list[dict[str, str]]]:
    """kubectl's tables (one per kind), each row a dict by column header; cells are cut at
    the columns' offsets, so cells with spaces and empty cells read right."""
    parsed = []
    for block in output.strip("\n").split("\n\n"):
        header, *rows = block.splitlines()
        starts = [match.start() for match in re.finditer(r"(?:^|(?<=\s\s))\S", header)]
        bounds = list(zip(starts, [*starts[1:], None], strict=True))
        names = [header[start:end].strip() for start, end in bounds]
        parsed.append(
            [
                dict(zip(names, (row[start:end].strip() for start, end in bounds), strict=True))
                for row in rows
            ]
        )
    return parsed


def matches(row: dict[str, str], expected: dict[str, str | re.Pattern[str]]) -> None:
    assert list(row) == list(expected), row
    for column, wanted in expected.items():
        if isinstance(wanted, re.Pattern):
            assert wanted.fullmatch(row[column]), (column, row[column])
        else:
            assert row[column] == wanted, (column, row[column])


async def test_kubectl_get_wide_prints_each_kinds_columns(client: Client, run: Run) -> None:
    service = await make_objects(client)
    listed = await run("kubectl", "get", "deploy,po,svc,job,cm,secret,ev", "-o", "wide")
    deployments, pods, services, jobs, configmaps, secrets, events = tables(listed.check().stdout)
    [deployment] = deployments
    matches(
        deployment,
        {
            "NAME": "deployment.apps/web",
            "READY": "2/3",
            "UP-TO-DATE": "3",
            "AVAILABLE": "2",
            "AGE": AGE,
            "CONTAINERS": "app,sidecar",
            "IMAGES": "nginx:1.27,busybox:1.36",
            "SELECTOR": "app=web,tier in (a,b)",
        },
    )
    [pod] = pods
    matches(
        pod,
        {
            "NAME": "pod/web-1",
            "READY": "1/2",
            "STATUS": "CrashLoopBackOff",
            "RESTARTS": re.compile(r"2 \(6\ds ago\)"),
            "AGE": AGE,
            "IP": "10.244.0.5",
            "NODE": "node-1",
            "NOMINATED NODE": "<none>",
            "READINESS GATES": "1/1",
        },
    )
    [svc] = services
    matches(
        svc,
        {
            "NAME": "service/web",
            "TYPE": "NodePort",
            "CLUSTER-IP": service["spec"]["clusterIP"],
            "EXTERNAL-IP": "<none>",
            "PORT(S)": "80:30080/TCP,53:30053/UDP",
            "AGE": AGE,
            "SELECTOR": "app=web",
        },
    )
    [job] = jobs
    matches(
        job,
        {
            "NAME": "job.batch/once",
            "STATUS": "Complete",
            "COMPLETIONS": "3/3",
            "DURATION": "3m5s",
            "AGE": AGE,
            "CONTAINERS": "job",
            "IMAGES": "busybox:1.36",
            "SELECTOR": "job=once",
        },
    )
    [configmap] = configmaps
    matches(configmap, {"NAME": "configmap/settings", "DATA": "3", "AGE": AGE})
    [secret] = secrets
    matches(secret, {"NAME": "secret/tls", "TYPE": "kubernetes.io/tls", "DATA": "2", "AGE": AGE})
    [event] = events
    matches(
        event,
        {
            "LAST SEEN": AGE,
            "TYPE": "Normal",
            "REASON": "ScaledUp",
            "OBJECT": "deployment/web",
            "SUBOBJECT": "",
            "SOURCE": "example.com/scaler, scaler-1",
            "MESSAGE": "scaled web up to 3 replicas",
            "FIRST SEEN": AGE,
            "COUNT": "1",
            "NAME": "event/web.1",
        },
    )
    narrow = tables((await run("kubectl", "get", "deploy,ev")).check().stdout)
    assert list(narrow[0][0]) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert list(narrow[1][0]) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]


COLUMNS = {
    # path: [(name, type, format, priority)]
    f"/apis/apps/v1{NS}/deployments": [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Up-to-date", "string", "", 0),
        ("Available", "string", "", 0),
        ("Age", "string", "", 0),
        ("Containers", "string", "", 1),
        ("Images", "string", "", 1),
        ("Selector", "string", "", 1),
    ],
    f"/apis/apps/v1{NS}/statefulsets": [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Age", "string", "", 0),
        ("Containers", "string", "", 1),
        ("Images", "string", "", 1),
    ],
    f"/apis/apps/v1{NS}/daemonsets": [
        ("Name", "string", "name", 0),
        ("Desired", "integer", "", 0),
        ("Current", "integer", "", 0),
        ("Ready", "integer", "", 0),
        ("Up-to-date", "integer", "", 0),
        ("Available", "integer", "", 0),
        ("Node Selector", "string", "", 0),
        ("Age", "string", "", 0),
        ("Containers", "string", "", 1),
        ("Images", "string", "", 1),
        ("Selector", "string", "", 1),
    ],
    f"/apis/apps/v1{NS}/replicasets": [
        ("Name", "string", "name", 0),
        ("Desired", "integer", "", 0),
        ("Current", "integer", "", 0),
        ("Ready", "integer", "", 0),
        ("Age", "string", "", 0),
        ("Containers", "string", "", 1),
        ("Images", "string", "", 1),
        ("Selector", "string", "", 1),
    ],
    f"/api/v1{NS}/pods": [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Status", "string", "", 0),
        ("Restarts", "string", "", 0),
        ("Age", "string", "", 0),
        ("IP", "string", "", 1),
        ("Node", "string", "", 1),
        ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ],
    f"/api/v1{NS}/services": [
        ("Name", "string", "name", 0),
        ("Type", "string", "", 0),
        ("Cluster-IP", "string", "", 0),
        ("External-IP", "string", "", 0),
        ("Port(s)", "string", "", 0),
        ("Age", "string", "", 0),
        ("Selector", "string", "", 1),
    ],
    f"/apis/batch/v1{NS}/jobs": [
        ("Name", "string", "name", 0),
        ("Status", "string", "", 0),
        ("Completions", "string", "", 0),
        ("Duration", "string", "", 0),
        ("Age", "string", "", 0),
        ("Containers", "string", "", 1),
        ("Images", "string", "", 1),
        ("Selector", "string", "", 1),
    ],
    f"/api/v1{NS}/configmaps": [
        ("Name", "string", "name", 0),
        ("Data", "string", "", 0),
        ("Age", "string", "", 0),
    ],
    f"/api/v1{NS}/secrets": [
        ("Name", "string", "name", 0),
        ("Type", "string", "", 0),
        ("Data", "string", "", 0),
        ("Age", "string", "", 0),
    ],
    f"/api/v1{NS}/events": [
        ("Last Seen", "string", "", 0),
        ("Type", "string", "", 0),
        ("Reason", "string", "", 0),
        ("Object", "string", "", 0),
        ("Subobject", "string", "", 1),
        ("Source", "string", "", 1),
        ("Message", "string", "", 0),
        ("First Seen", "string", "", 1),
        ("Count", "string", "", 1),
        ("Name", "string", "name", 1),
    ],
}
COLUMNS[f"/apis/events.k8s.io/v1{NS}/events"] = COLUMNS[f"/api/v1{NS}/events"]


async def get_table(client: Client, path: str) -> dict[str, Any]:
    async with client.session.get(client.base + path, headers={"Accept": TABLE}) as response:
        assert response.status == 200, await response.text()
        table: dict[str, Any] = json.loads(await response.read())
    return table


@pytest.mark.parametrize("path", sorted(COLUMNS))
async def test_each_kind_has_the_real_servers_column_definitions(client: Client, path: str) -> None:
    table = await get_table(client, path)
    assert [
        (c["name"], c["type"], c["format"], c["priority"]) for c in table["columnDefinitions"]
    ] == COLUMNS[path]
    assert all(c["description"] for c in table["columnDefinitions"])


DOCUMENTED = {
    # (columns, column name): (definition, field) whose description the column carries
    (printers.DEPLOYMENT_COLUMNS, "Up-to-date"): ("apps.v1.DeploymentStatus", "updatedReplicas"),
    (printers.DEPLOYMENT_COLUMNS, "Available"): ("apps.v1.DeploymentStatus", "availableReplicas"),
    (printers.DEPLOYMENT_COLUMNS, "Selector"): ("apps.v1.DeploymentSpec", "selector"),
    (printers.DEPLOYMENT_COLUMNS, "Name"): ("meta.v1.ObjectMeta", "name"),
    (printers.DEPLOYMENT_COLUMNS, "Age"): ("meta.v1.ObjectMeta", "creationTimestamp"),
    (printers.REPLICASET_COLUMNS, "Desired"): ("apps.v1.ReplicaSetSpec", "replicas"),
    (printers.REPLICASET_COLUMNS, "Current"): ("apps.v1.ReplicaSetStatus", "replicas"),
    (printers.REPLICASET_COLUMNS, "Ready"): ("apps.v1.ReplicaSetStatus", "readyReplicas"),
    (printers.REPLICASET_COLUMNS, "Selector"): ("apps.v1.ReplicaSetSpec", "selector"),
    (printers.DAEMONSET_COLUMNS, "Desired"): ("apps.v1.DaemonSetStatus", "desiredNumberScheduled"),
    (printers.DAEMONSET_COLUMNS, "Current"): ("apps.v1.DaemonSetStatus", "currentNumberScheduled"),
    (printers.DAEMONSET_COLUMNS, "Ready"): ("apps.v1.DaemonSetStatus", "numberReady"),
    (printers.DAEMONSET_COLUMNS, "Up-to-date"): (
        "apps.v1.DaemonSetStatus",
        "updatedNumberScheduled",
    ),
    (printers.DAEMONSET_COLUMNS, "Available"): ("apps.v1.DaemonSetStatus", "numberAvailable"),
    (printers.DAEMONSET_COLUMNS, "Node Selector"): ("core.v1.PodSpec", "nodeSelector"),
    (printers.DAEMONSET_COLUMNS, "Selector"): ("apps.v1.DaemonSetSpec", "selector"),
    (printers.POD_COLUMNS, "IP"): ("core.v1.PodStatus", "podIP"),
    (printers.POD_COLUMNS, "Node"): ("core.v1.PodSpec", "nodeName"),
    (printers.POD_COLUMNS, "Nominated Node"): ("core.v1.PodStatus", "nominatedNodeName"),
    (printers.POD_COLUMNS, "Readiness Gates"): ("core.v1.PodSpec", "readinessGates"),
    (printers.JOB_COLUMNS, "Completions"): ("batch.v1.JobStatus", "succeeded"),
    (printers.JOB_COLUMNS, "Selector"): ("batch.v1.JobSpec", "selector"),
    (printers.SERVICE_COLUMNS, "Type"): ("core.v1.ServiceSpec", "type"),
    (printers.SERVICE_COLUMNS, "Cluster-IP"): ("core.v1.ServiceSpec", "clusterIP"),
    (printers.SERVICE_COLUMNS, "External-IP"): ("core.v1.ServiceSpec", "externalIPs"),
    (printers.SERVICE_COLUMNS, "Port(s)"): ("core.v1.ServiceSpec", "ports"),
    (printers.SERVICE_COLUMNS, "Selector"): ("core.v1.ServiceSpec", "selector"),
    (printers.CONFIGMAP_COLUMNS, "Data"): ("core.v1.ConfigMap", "data"),
    (printers.SECRET_COLUMNS, "Type"): ("core.v1.Secret", "type"),
    (printers.SECRET_COLUMNS, "Data"): ("core.v1.Secret", "data"),
    (printers.EVENT_COLUMNS, "Last Seen"): ("core.v1.Event", "lastTimestamp"),
    (printers.EVENT_COLUMNS, "Type"): ("core.v1.Event", "type"),
    (printers.EVENT_COLUMNS, "Reason"): ("core.v1.Event", "reason"),
    (printers.EVENT_COLUMNS, "Object"): ("core.v1.Event", "involvedObject"),
    (printers.EVENT_COLUMNS, "Subobject"): ("core.v1.ObjectReference", "fieldPath"),
    (printers.EVENT_COLUMNS, "Source"): ("core.v1.Event", "source"),
    (printers.EVENT_COLUMNS, "Message"): ("core.v1.Event", "message"),
    (printers.EVENT_COLUMNS, "First Seen"): ("core.v1.Event", "firstTimestamp"),
    (printers.EVENT_COLUMNS, "Count"): ("core.v1.Event", "count"),
    (printers.SERVICEACCOUNT_COLUMNS, "Secrets"): ("core.v1.ServiceAccount", "secrets"),
    (printers.SCALE_COLUMNS, "Desired"): ("autoscaling.v1.ScaleSpec", "replicas"),
    (printers.SCALE_COLUMNS, "Available"): ("autoscaling.v1.ScaleStatus", "replicas"),
}


def definitions() -> dict[str, Any]:
    """The Kubernetes 1.35 API's definitions, as the server's built-in schemas read them."""
    spec = find_spec("kubernetes_validate")
    assert spec is not None
    assert spec.submodule_search_locations
    path = Path(
        next(iter(spec.submodule_search_locations)),
        "kubernetes-json-schema",
        "v1.35.0-local",
        "_definitions.json",
    )
    found: dict[str, Any] = json.loads(path.read_bytes())["$defs"]
    return found


def test_the_column_descriptions_are_the_api_documentation() -> None:
    documented = definitions()
    for (columns, name), (definition, field) in DOCUMENTED.items():
        prefix = (
            "io.k8s.apimachinery.pkg.apis." if definition.startswith("meta.") else "io.k8s.api."
        )
        wanted = documented[prefix + definition]["properties"][field]["description"]
        [column] = [c for c in columns if c.name == name]
        assert column.description == wanted, (name, definition, field)


async def test_a_finished_pods_row_is_completed(client: Client) -> None:
    pod = {"metadata": {"name": "done"}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    assert (await client.post(f"/api/v1{NS}/pods", pod)).status == 201
    status = {"status": {"phase": "Succeeded"}}
    assert (await client.patch(f"/api/v1{NS}/pods/done/status", status, MERGE_PATCH)).status == 200
    [row] = (await get_table(client, f"/api/v1{NS}/pods"))["rows"]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert row["object"]["kind"] == "PartialObjectMetadata"


# --- the printers, object by object -------------------------------------------------------


def pod(
    *statuses: dict[str, Any],
    init: tuple[dict[str, Any], ...] = (),
    init_statuses: tuple[dict[str, Any], ...] = (),
    containers: int = 1,
    **status: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": stamp(NOW - timedelta(seconds=200))},
        "spec": {
            "initContainers": list(init),
            "containers": [{"name": f"c{i}"} for i in range(containers)],
        },
        "status": {
            "initContainerStatuses": list(init_statuses),
            "containerStatuses": list(statuses),
            **status,
        },
    }


RUNNING_READY = {"name": "c0", "ready": True, "state": {"running": {}}}


@pytest.mark.parametrize(
    ("obj", "ready", "shown", "restarts"),
    [
        (pod(phase="Pending"), "0/1", "Pending", "0"),
        (pod(RUNNING_READY, phase="Running"), "1/1", "Running", "0"),
        (
            pod(
                init=({"name": "i"},),
                init_statuses=({"name": "i", "state": {"running": {}}},),
                phase="Pending",
            ),
            "0/1",
            "Init:0/1",
            "0",
        ),
        (
            pod(
                init=({"name": "i"},),
                init_statuses=(
                    {
                        "name": "i",
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    },
                ),
                phase="Pending",
            ),
            "0/1",
            "Init:CrashLoopBackOff",
            "4",
        ),
        (
            pod(
                init=({"name": "i"},),
                init_statuses=({"name": "i", "state": {"terminated": {"exitCode": 3}}},),
                phase="Failed",
            ),
            "0/1",
            "Init:ExitCode:3",
            "0",
        ),
        (
            pod(
                init=({"name": "i"},),
                init_statuses=(
                    {"name": "i", "state": {"terminated": {"exitCode": 1, "signal": 9}}},
                ),
                phase="Failed",
            ),
            "0/1",
            "Init:Signal:9",
            "0",
        ),
        (
            pod(
                RUNNING_READY,
                init=({"name": "proxy", "restartPolicy": "Always"},),
                init_statuses=(
                    {
                        "name": "proxy",
                        "started": True,
                        "ready": True,
                        "restartCount": 1,
                        "state": {"running": {}},
                    },
                ),
                phase="Running",
                conditions=[{"type": "Initialized", "status": "True"}],
            ),
            "2/2",
            "Running",
            "1",
        ),
        (
            pod(
                {"name": "c0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                phase="Succeeded",
            ),
            "0/1",
            "Completed",
            "0",
        ),
        (
            pod(
                {"name": "c0", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "c1", "ready": True, "state": {"running": {}}},
                containers=2,
                phase="Running",
                conditions=[{"type": "Ready", "status": "False"}],
            ),
            "1/2",
            "NotReady",
            "0",
        ),
        (
            pod({"name": "c0", "state": {"terminated": {"exitCode": 137}}}),
            "0/1",
            "ExitCode:137",
            "0",
        ),
        (
            pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            "0/1",
            "SchedulingGated",
            "0",
        ),
        (
            pod(
                {
                    "name": "c0",
                    "ready": True,
                    "restartCount": 3,
                    "state": {"running": {}},
                    "lastState": {
                        "terminated": {"finishedAt": stamp(NOW - timedelta(seconds=182))}
                    },
                },
                phase="Running",
            ),
            "1/1",
            "Running",
            "3 (3m2s ago)",
        ),
    ],
)
def test_a_pods_status_as_kubectl_get_shows_it(
    obj: dict[str, Any], ready: str, shown: str, restarts: str
) -> None:
    cells = printers.pod_cells(obj, NOW)
    assert cells[:5] == ["p", ready, shown, restarts, "3m20s"]


def test_a_deleted_pod_is_terminating_or_unknown() -> None:
    running = pod(RUNNING_READY, phase="Running")
    running["metadata"]["deletionTimestamp"] = stamp(NOW)
    assert printers.pod_cells(running, NOW)[2] == "Terminating"
    running["status"]["reason"] = "NodeLost"
    assert printers.pod_cells(running, NOW)[2] == "Unknown"
    done = pod(phase="Succeeded")
    done["metadata"]["deletionTimestamp"] = stamp(NOW)
    assert printers.pod_cells(done, NOW)[2] == "Succeeded"


def job(conditions: list[dict[str, str]] | None = None, **fields: Any) -> dict[str, Any]:
    spec = {key: value for key, value in fields.items() if key in ("completions", "parallelism")}
    status = {key: value for key, value in fields.items() if key not in spec}
    return {
        "metadata": {"name": "j"},
        "spec": spec,
        "status": {**status, "conditions": conditions or []},
    }


@pytest.mark.parametrize(
    ("obj", "shown", "completions", "duration"),
    [
        (job(), "Running", "0/1", ""),
        (job(parallelism=3, succeeded=1), "Running", "1/1 of 3", ""),
        (
            job(completions=5, succeeded=2, startTime=stamp(NOW - timedelta(minutes=4))),
            "Running",
            "2/5",
            "4m",
        ),
        (job([{"type": "Complete", "status": "True"}]), "Complete", "0/1", ""),
        (job([{"type": "Failed", "status": "True"}]), "Failed", "0/1", ""),
        (job([{"type": "Suspended", "status": "True"}]), "Suspended", "0/1", ""),
        (job([{"type": "FailureTarget", "status": "True"}]), "FailureTarget", "0/1", ""),
        (job([{"type": "Complete", "status": "False"}]), "Running", "0/1", ""),
    ],
)
def test_a_jobs_status_completions_and_duration(
    obj: dict[str, Any], shown: str, completions: str, duration: str
) -> None:
    assert printers.job_cells(obj, NOW)[1:4] == [shown, completions, duration]


def test_a_deleted_job_is_terminating_unless_finished() -> None:
    deleted = job()
    deleted["metadata"]["deletionTimestamp"] = stamp(NOW)
    assert printers.job_cells(deleted, NOW)[1] == "Terminating"
    finished = job([{"type": "Complete", "status": "True"}])
    finished["metadata"]["deletionTimestamp"] = stamp(NOW)
    assert printers.job_cells(finished, NOW)[1] == "Complete"


def service(kind: str, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "s"}, "spec": {"type": kind, **spec}, "status": status or {}}


@pytest.mark.parametrize(
    ("obj", "cluster_ip", "external_ip", "ports"),
    [
        (
            service("ClusterIP", clusterIPs=["10.96.0.7"], ports=[{"port": 80}]),
            "10.96.0.7",
            "<none>",
            "80/TCP",
        ),
        (service("ClusterIP", clusterIPs=["None"]), "None", "<none>", "<none>"),
        (
            service("ClusterIP", clusterIPs=["10.96.0.7"], externalIPs=["1.1.1.1", "2.2.2.2"]),
            "10.96.0.7",
            "1.1.1.1,2.2.2.2",
            "<none>",
        ),
        (
            service("LoadBalancer", ports=[{"port": 443, "nodePort": 31443, "protocol": "TCP"}]),
            "<none>",
            "<pending>",
            "443:31443/TCP",
        ),
        (
            service(
                "LoadBalancer",
                {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}},
                externalIPs=["1.1.1.1"],
            ),
            "<none>",
            "5.6.7.8,lb.example.com,1.1.1.1",
            "<none>",
        ),
        (
            service("ExternalName", externalName="db.example.com"),
            "<none>",
            "db.example.com",
            "<none>",
        ),
    ],
)
def test_a_services_addresses_and_ports(
    obj: dict[str, Any], cluster_ip: str, external_ip: str, ports: str
) -> None:
    cells = printers.service_cells(obj, NOW)
    assert cells[2:5] == [cluster_ip, external_ip, ports]


def test_an_events_times_count_object_and_source() -> None:
    base = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}}
    singleton = {**base, "eventTime": "2026-06-01T11:59:00.000000Z", "reportingComponent": "ctl"}
    assert printers.event_cells(singleton, NOW) == [
        "60s",
        "",
        "",
        "pod/p",
        "",
        "ctl",
        "",
        "60s",
        1,
        "e",
    ]
    series = {
        **singleton,
        "series": {"count": 7, "lastObservedTime": "2026-06-01T11:59:50.000000Z"},
        "message": "  again \n",
        "reportingInstance": "ctl-1",
    }
    cells = printers.event_cells(series, NOW)
    assert [cells[0], *cells[5:9]] == ["10s", "ctl, ctl-1", "again", "60s", 7]
    legacy = {
        **base,
        "involvedObject": {"kind": "Node"},
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-06-01T10:00:00Z",
        "lastTimestamp": "2026-06-01T11:00:00Z",
        "count": 12,
        "reportingComponent": "ignored",
    }
    assert printers.event_cells(legacy, NOW) == [
        "60m",
        "",
        "",
        "node",
        "",
        "kubelet, node-1",
        "",
        "120m",
        12,
        "e",
    ]
    assert printers.event_cells(base, NOW)[0] == "<unknown>"


@pytest.mark.parametrize(
    ("selector", "deployment", "others"),
    [
        (None, "", "<none>"),
        ({}, "", "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "c", "operator": "Exists"},
                    {"key": "b", "operator": "DoesNotExist"},
                    {"key": "a", "operator": "NotIn", "values": ["y", "x"]},
                ]
            },
            "a notin (x,y),!b,c",
            "a notin (x,y),!b,c",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Near"}]}, "<invalid>", "<error>"),
    ],
)
def test_label_selectors_as_the_printers_write_them(
    selector: Any, deployment: str, others: str
) -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"selector": selector}}
    assert printers.deployment_cells(obj, NOW)[-1] == deployment
    assert printers.replicaset_cells(obj, NOW)[-1] == others


@pytest.mark.parametrize(
    ("timestamp", "age"),
    [
        (None, "<unknown>"),
        ("", "<unknown>"),
        (stamp(NOW - timedelta(seconds=5)), "5s"),
        (stamp(NOW - timedelta(seconds=182)), "3m2s"),
        (stamp(NOW - timedelta(hours=5, minutes=7)), "5h7m"),
        (stamp(NOW - timedelta(days=3, hours=2)), "3d2h"),
        (stamp(NOW + timedelta(seconds=30)), "<invalid>"),
    ],
)
def test_ages(timestamp: str | None, age: str) -> None:
    assert printers.since(timestamp, NOW) == age


def test_replicas_default_to_one_and_counts_to_zero() -> None:
    bare = {"metadata": {"name": "x"}, "spec": {}}
    assert printers.deployment_cells(bare, NOW)[1:4] == ["0/1", 0, 0]
    assert printers.statefulset_cells(bare, NOW)[1] == "0/1"
    assert printers.replicaset_cells(bare, NOW)[1:4] == [1, 0, 0]
    assert printers.daemonset_cells(bare, NOW)[1:7] == [0, 0, 0, 0, 0, "<none>"]
