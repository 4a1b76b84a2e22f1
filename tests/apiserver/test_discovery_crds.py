"""Discovery, OpenAPI v3, LIST options and CRDs of the in-memory API server.

Covers /version, legacy discovery (/api, /apis, group versions with shortNames,
categories and status subresources), the minimal OpenAPI v3 documents with a
fieldValidation PATCH parameter and a hash that changes with the kinds (/openapi/v2:
test_openapi_v2.py), list selectors and limit/continue pagination, and CRDs: validation
of the CRD itself, Established/NamesAccepted status, served versions sharing
storage, schema validation (422 naming the field), pruning, defaults, strict field
validation, 415 for strategic merge patches, and removal of custom objects with
their CRD.
"""

from __future__ import annotations

import copy
from typing import Any

from apitesting import Client

from apiserver import ApiServer

MERGE = "application/merge-patch+json"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "default": "fast"},
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def gadget_crd(versions: tuple[str, ...] = ("v1",)) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "gadgets",
                "singular": "gadget",
                "kind": "Gadget",
                "shortNames": ["gd"],
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": index == 0,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": SCHEMA},
                }
                for index, version in enumerate(versions)
            ],
        },
    }


def gadget(name: str, version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"example.com/{version}",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_version_and_core_discovery(client: Client) -> None:
    version = (await client.get("/version")).body
    assert version["gitVersion"].startswith("v1.35")
    api = (await client.get("/api")).body
    assert api["kind"] == "APIVersions"
    assert api["versions"] == ["v1"]
    core = (await client.get("/api/v1")).body
    assert core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["services"]["shortNames"] == ["svc"]
    assert by_name["services"]["categories"] == ["all"]
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert "shortNames" not in by_name["pods/status"]
    assert by_name["namespaces"]["namespaced"] is False


async def test_group_discovery_lists_every_builtin_group(client: Client) -> None:
    groups = {g["name"]: g for g in (await client.get("/apis")).body["groups"]}
    for name in (
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "autoscaling",
        "policy",
        "networking.k8s.io",
    ):
        assert name in groups
    assert groups["autoscaling"]["preferredVersion"]["groupVersion"] == "autoscaling/v2"
    apps_group = (await client.get("/apis/apps")).body
    assert apps_group["kind"] == "APIGroup"
    assert apps_group["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert (await client.get("/apis/nothing.example.com")).status == 404
    apps = (await client.get("/apis/apps/v1")).body
    assert {r["name"] for r in apps["resources"]} >= {"deployments", "replicasets"}


async def test_openapi_v3_documents_carry_field_validation(client: Client) -> None:
    root = (await client.get("/openapi/v3")).body["paths"]
    assert root["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")
    apps = (await client.get("/openapi/v3/apis/apps/v1")).body
    patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
    assert (await client.get("/openapi/v3/apis/nothing/v1")).status == 404


async def test_crd_is_established_and_served_at_once(client: Client) -> None:
    created = await client.post(CRDS, gadget_crd())
    assert created.status == 201
    crd = (await client.get(f"{CRDS}/gadgets.example.com")).body
    conditions = {c["type"]: (c["status"], c["reason"]) for c in crd["status"]["conditions"]}
    assert conditions["Established"][0] == "True"
    assert conditions["NamesAccepted"][0] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Gadget"
    assert crd["status"]["storedVersions"] == ["v1"]
    group = (await client.get("/apis/example.com/v1")).body
    entry = next(r for r in group["resources"] if r["name"] == "gadgets")
    assert entry["shortNames"] == ["gd"]
    assert entry["categories"] == ["all"]
    assert any(r["name"] == "gadgets/status" for r in group["resources"])
    assert "apis/example.com/v1" in (await client.get("/openapi/v3")).body["paths"]


async def test_openapi_hash_changes_with_the_kinds(client: Client) -> None:
    await client.post(CRDS, gadget_crd())
    before = (await client.get("/openapi/v3")).body["paths"]["apis/example.com/v1"]
    wider = gadget_crd()
    wider["spec"]["names"]["kind"] = "Gizmo"
    wider["spec"]["names"]["singular"] = "gizmo"
    await client.put(f"{CRDS}/gadgets.example.com", wider)
    after = (await client.get("/openapi/v3")).body["paths"]["apis/example.com/v1"]
    assert before != after


async def test_invalid_crds_are_rejected(client: Client) -> None:
    misnamed = gadget_crd()
    misnamed["metadata"]["name"] = "wrong.example.com"
    reply = await client.post(CRDS, misnamed)
    assert reply.status == 422
    assert any(c["field"] == "metadata.name" for c in reply.body["details"]["causes"])
    not_structural = gadget_crd()
    not_structural["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"properties": {}}
    assert (await client.post(CRDS, not_structural)).status == 422


async def test_custom_resources_are_validated_pruned_and_defaulted(client: Client) -> None:
    await client.post(CRDS, gadget_crd())
    invalid = await client.post(GADGETS, gadget("small", size=0))
    assert invalid.status == 422
    assert invalid.body["reason"] == "Invalid"
    assert invalid.body["details"]["causes"][0]["field"] == "spec.size"
    assert 'Gadget.example.com "small" is invalid: spec.size' in invalid.body["message"]
    created = await client.post(GADGETS, gadget("ok", size=2, unknown="dropped"))
    assert created.status == 201
    assert created.body["spec"] == {"size": 2, "mode": "fast"}
    strict = await client.request(
        "POST",
        GADGETS,
        gadget("strict", size=1, unknown="x"),
        params={"fieldValidation": "Strict"},
    )
    assert strict.status == 400
    assert 'unknown field "spec.unknown"' in strict.body["message"]
    smp = await client.patch(
        f"{GADGETS}/ok", {"spec": {"size": 3}}, "application/strategic-merge-patch+json"
    )
    assert smp.status == 415
    bad_patch = await client.patch(f"{GADGETS}/ok", {"spec": {"size": -1}}, MERGE)
    assert bad_patch.status == 422


async def test_served_versions_share_storage(client: Client) -> None:
    await client.post(CRDS, gadget_crd(("v1", "v2")))
    await client.post(GADGETS, gadget("shared", size=1))
    as_v2 = await client.get("/apis/example.com/v2/namespaces/default/gadgets/shared")
    assert as_v2.status == 200
    assert as_v2.body["apiVersion"] == "example.com/v2"
    listed = await client.get("/apis/example.com/v2/namespaces/default/gadgets")
    assert [i["apiVersion"] for i in listed.body["items"]] == ["example.com/v2"]


async def test_deleting_a_crd_removes_its_objects_and_kind(
    apiserver: ApiServer, client: Client
) -> None:
    await client.post(CRDS, gadget_crd())
    await client.post(GADGETS, gadget("doomed", size=1))
    await client.delete(f"{CRDS}/gadgets.example.com")
    assert (await client.get(GADGETS)).status == 404
    assert (await client.get("/apis/example.com/v1")).status == 404
    assert apiserver.registry.lookup("example.com", "v1", "gadgets") is None
    await client.post(CRDS, gadget_crd())
    assert (await client.get(GADGETS)).body["items"] == []


async def test_list_selectors_and_pagination(client: Client) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    for index in range(7):
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm{index}", "labels": {"parity": str(index % 2)}},
        }
        await client.post(path, body)
    odd = (await client.get(path, labelSelector="parity=1")).body["items"]
    assert [i["metadata"]["name"] for i in odd] == ["cm1", "cm3", "cm5"]
    by_name = (await client.get(path, fieldSelector="metadata.name=cm4")).body["items"]
    assert [i["metadata"]["name"] for i in by_name] == ["cm4"]
    assert (await client.get(path, labelSelector="a in (")).status == 400
    names: list[str] = []
    params = {"limit": "3"}
    pages = 0
    while True:
        page = (await client.get(path, **params)).body
        pages += 1
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
        params = {"limit": "3", "continue": token}
    assert names == [f"cm{i}" for i in range(7)]
    assert pages == 3
    assert (await client.get(path, limit="3", **{"continue": "garbage"})).status == 400


async def test_cluster_wide_list_spans_namespaces(client: Client) -> None:
    labels = {"owner": "helm"}
    for namespace in ("default", "kube-public"):
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": labels}}
        await client.post(f"/api/v1/namespaces/{namespace}/secrets", copy.deepcopy(body))
    listed = (await client.get("/api/v1/secrets", labelSelector="owner=helm")).body
    assert [i["metadata"]["namespace"] for i in listed["items"]] == ["default", "kube-public"]
