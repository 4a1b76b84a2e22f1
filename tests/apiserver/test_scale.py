"""The scale subresource of Deployments, ReplicaSets and StatefulSets: an autoscaling/v1 Scale.

Covers the real kubectl: ``kubectl scale`` of each kind (a merge PATCH of ``.../scale``: the
object's replicas and generation change, its status does not), with ``--current-replicas``
(a GET of the Scale, then a PUT; a precondition that does not hold changes nothing) and
``--dry-run=server``; ``kubectl get --subresource=scale`` (the Scale's Table). Over plain HTTP:
discovery's ``*/scale`` entries (group autoscaling, version v1, kind Scale, get/patch/update), the
Scale of an object (the selector as a string), the real server's answers to a bad Scale (negative
replicas, a wrong type, another uid, a stale resourceVersion), a missing object and a DELETE, and
field ownership: the scale writer owns ``spec.replicas`` (an apply of the object then conflicts
with it), and a server-side apply to the Scale conflicts with the object's owner of replicas.

The server runs without workload simulation: statuses are the ones the tests write.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from apitesting import Client, Run

from apiserver import ApiServer

NS = "/namespaces/default"
DEPLOYMENTS = f"/apis/apps/v1{NS}/deployments"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    """No workload simulation: nothing but the tests writes statuses."""
    async with ApiServer() as api:
        yield api


def workload(kind: str, name: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }
    if kind == "StatefulSet":
        body["spec"]["serviceName"] = name
    return body


async def created(client: Client, kind: str = "Deployment", **spec: Any) -> dict[str, Any]:
    body = workload(kind, "web", **spec)
    reply = await client.post(f"/apis/apps/v1{NS}/{kind.lower()}s", body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


# --- the real kubectl ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
async def test_kubectl_scale_changes_replicas_and_generation(
    apiserver: ApiServer, client: Client, run: Run, kind: str
) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=json.dumps(workload(kind, "web")))).check()
    resource = f"{kind.lower()}s"
    status = {"status": {"replicas": 1, "readyReplicas": 1}}
    path = f"/apis/apps/v1{NS}/{resource}/web/status"
    assert (await client.patch(path, status, MERGE_PATCH)).status == 200

    scaled = await run("kubectl", "scale", f"{resource}/web", "--replicas=3")
    assert scaled.check().stdout.strip() == f"{kind.lower()}.apps/web scaled"
    obj = (await run("kubectl", "get", resource, "web", "-o", "json")).check().json()
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["generation"] == 2
    assert obj["status"] == {"replicas": 1, "readyReplicas": 1}
    [write] = apiserver.audit.find(subresource="scale", verb="patch")
    assert (write.resource, write.code) == (resource, 200)


async def test_kubectl_scale_with_a_current_replicas_precondition(
    apiserver: ApiServer, run: Run
) -> None:
    (
        await run("kubectl", "apply", "-f", "-", stdin=json.dumps(workload("Deployment", "web")))
    ).check()
    refused = await run(
        "kubectl", "scale", "deployment/web", "--current-replicas=5", "--replicas=2"
    )
    assert refused.code != 0
    assert "Expected replicas to be 5, was 1" in refused.stderr
    unchanged = (await run("kubectl", "get", "deployment", "web", "-o", "json")).json()
    assert (unchanged["spec"]["replicas"], unchanged["metadata"]["generation"]) == (1, 1)

    accepted = await run(
        "kubectl", "scale", "deployment/web", "--current-replicas=1", "--replicas=2"
    )
    accepted.check()
    scaled = (await run("kubectl", "get", "deployment", "web", "-o", "json")).json()
    assert (scaled["spec"]["replicas"], scaled["metadata"]["generation"]) == (2, 2)
    assert [r.verb for r in apiserver.audit.find(subresource="scale")] == ["get", "get", "update"]


async def test_kubectl_scale_dry_run_changes_nothing(apiserver: ApiServer, run: Run) -> None:
    (
        await run("kubectl", "apply", "-f", "-", stdin=json.dumps(workload("Deployment", "web")))
    ).check()
    dry = await run("kubectl", "scale", "deployment/web", "--replicas=4", "--dry-run=server")
    assert "scaled (server dry run)" in dry.check().stdout
    obj = (await run("kubectl", "get", "deployment", "web", "-o", "json")).json()
    assert (obj["spec"]["replicas"], obj["metadata"]["generation"]) == (1, 1)


async def test_kubectl_get_of_the_scale_subresource_prints_its_table(run: Run) -> None:
    (
        await run("kubectl", "apply", "-f", "-", stdin=json.dumps(workload("Deployment", "web")))
    ).check()
    (await run("kubectl", "scale", "deployment/web", "--replicas=3")).check()
    table = await run("kubectl", "get", "deployment", "web", "--subresource=scale")
    header, row = table.check().stdout.splitlines()
    assert header.split() == ["NAME", "DESIRED", "AVAILABLE", "AGE"]
    assert row.split()[:3] == ["web", "3", "0"]


# --- over HTTP ----------------------------------------------------------------------------


async def test_discovery_lists_the_scale_subresources(client: Client) -> None:
    resources = (await client.get("/apis/apps/v1")).body["resources"]
    by_name = {r["name"]: r for r in resources}
    for resource in ("deployments", "replicasets", "statefulsets"):
        assert by_name[f"{resource}/scale"] == {
            "name": f"{resource}/scale",
            "singularName": "",
            "namespaced": True,
            "group": "autoscaling",
            "version": "v1",
            "kind": "Scale",
            "verbs": ["get", "patch", "update"],
        }
    assert "daemonsets/scale" not in by_name
    names = [r["name"] for r in resources]
    start = names.index("deployments")
    assert names[start : start + 3] == ["deployments", "deployments/scale", "deployments/status"]


async def test_the_scale_of_a_deployment(client: Client) -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
    }
    await created(client, selector=selector)
    status = {"status": {"replicas": 2, "readyReplicas": 1}}
    assert (await client.patch(f"{DEPLOYMENTS}/web/status", status, MERGE_PATCH)).status == 200
    scale = await client.get(f"{DEPLOYMENTS}/web/scale")
    assert scale.status == 200
    metadata = (await client.get(f"{DEPLOYMENTS}/web")).body["metadata"]
    assert scale.body == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": 1},
        "status": {"replicas": 2, "selector": "app=web,tier in (a,b)"},
    }
    missing = await client.get(f"{DEPLOYMENTS}/nope/scale")
    assert (missing.status, missing.body["message"]) == (404, 'deployments.apps "nope" not found')


async def test_scale_to_zero_is_a_scale_without_replicas(client: Client) -> None:
    await created(client)
    reply = await client.patch(f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 0}}, MERGE_PATCH)
    assert reply.status == 200, reply.body
    assert reply.body["spec"] == {}  # omitempty, as Go writes it
    assert (await client.get(f"{DEPLOYMENTS}/web")).body["spec"]["replicas"] == 0


async def test_a_put_of_a_scale_moves_only_its_replicas(client: Client) -> None:
    await created(client)
    scale = (await client.get(f"{DEPLOYMENTS}/web/scale")).body
    scale["spec"]["replicas"] = 5
    scale["status"]["replicas"] = 9  # ignored: the object's status stays its own
    put = await client.put(f"{DEPLOYMENTS}/web/scale", scale)
    assert put.status == 200, put.body
    assert (put.body["spec"], put.body["status"]) == (
        {"replicas": 5},
        {"replicas": 0, "selector": "app=web"},
    )
    obj = (await client.get(f"{DEPLOYMENTS}/web")).body
    assert (obj["spec"]["replicas"], obj["metadata"]["generation"]) == (5, 2)
    assert "status" not in obj


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"spec": {"replicas": -1}},
            422,
            'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
            "must be greater than or equal to 0",
        ),
        (
            {"spec": {"replicas": "three"}},
            400,
            'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal string '
            "into Go struct field ScaleSpec.spec.replicas of type int32",
        ),
        (
            {"metadata": {"uid": "someone-else"}},
            409,
            'Operation cannot be fulfilled on deployments/scale.apps "web": Precondition failed: '
            "UID in precondition: someone-else, UID in object meta: ",
        ),
        (
            {"metadata": {"resourceVersion": "1"}},
            409,
            'Operation cannot be fulfilled on deployments.apps "web": the object has been '
            "modified; please apply your changes to the latest version and try again",
        ),
    ],
    ids=["negative", "wrong-type", "other-uid", "stale"],
)
async def test_a_bad_scale_is_refused_as_a_real_server_does(
    client: Client, change: dict[str, Any], code: int, message: str
) -> None:
    await created(client)
    scale = (await client.get(f"{DEPLOYMENTS}/web/scale")).body
    for key, value in change.items():
        scale[key] = {**scale[key], **value} if isinstance(value, dict) else value
    reply = await client.put(f"{DEPLOYMENTS}/web/scale", scale)
    assert reply.status == code
    assert reply.body["message"].startswith(message)
    obj = (await client.get(f"{DEPLOYMENTS}/web")).body
    assert (obj["spec"]["replicas"], obj["metadata"]["generation"]) == (1, 1)


async def test_a_scale_cannot_be_deleted(client: Client) -> None:
    await created(client)
    reply = await client.delete(f"{DEPLOYMENTS}/web/scale")
    assert (reply.status, reply.body["reason"]) == (405, "MethodNotAllowed")


async def test_the_scale_writer_owns_the_replicas(client: Client) -> None:
    manifest = workload("Deployment", "web")
    applied = await client.patch(f"{DEPLOYMENTS}/web", manifest, APPLY_PATCH, fieldManager="helm")
    assert applied.status == 201, applied.body
    scaled = await client.patch(
        f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 4}}, MERGE_PATCH, fieldManager="hpa"
    )
    assert scaled.status == 200, scaled.body

    again = await client.patch(f"{DEPLOYMENTS}/web", manifest, APPLY_PATCH, fieldManager="helm")
    assert again.status == 409
    [cause] = again.body["details"]["causes"]
    assert (cause["field"], cause["message"]) == (".spec.replicas", 'conflict with "hpa"')

    to_scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 6}}
    refused = await client.patch(
        f"{DEPLOYMENTS}/web/scale", to_scale, APPLY_PATCH, fieldManager="autoscaler"
    )
    assert refused.status == 409
    assert (
        refused.body["message"]
        == 'Apply failed with 1 conflict: conflict with "hpa": .spec.replicas'
    )
    forced = await client.patch(
        f"{DEPLOYMENTS}/web/scale", to_scale, APPLY_PATCH, fieldManager="autoscaler", force="true"
    )
    assert (forced.status, forced.body["spec"]) == (200, {"replicas": 6})
    last = await client.patch(f"{DEPLOYMENTS}/web", manifest, APPLY_PATCH, fieldManager="helm")
    assert last.status == 409
    assert last.body["details"]["causes"][0]["message"] == 'conflict with "autoscaler"'
