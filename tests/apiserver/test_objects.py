"""Object semantics of the in-memory API server over plain HTTP.

Covers uid/creationTimestamp/resourceVersion from one counter, generation on spec
changes only, the status subresource split, namespaces (missing ones, deletion),
every error Status (404, 409 AlreadyExists/Conflict, 422, 400, 415, 405), PUT and
the four PATCH types (resourceVersion preconditions included), server-side apply
create/conflict/force, protobuf and YAML bodies, Secret stringData, Service cluster
IPs, dryRun=All, finalizers with deletionTimestamp, garbage collection by ownerReferences
(Background and Orphan) and deletecollection.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from apitesting import Client

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def configmap(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"key": "value"},
    }


def deployment(name: str, image: str = "nginx:1", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def test_create_assigns_uid_timestamp_generation_and_increasing_resource_versions(
    client: Client,
) -> None:
    first = await client.post(CM, configmap("a"))
    second = await client.post(CM, configmap("b"))
    assert first.status == second.status == 201
    meta = first.body["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert rv(second.body) > rv(first.body)
    listed = await client.get(CM)
    assert int(listed.body["metadata"]["resourceVersion"]) >= rv(second.body)
    assert listed.body["kind"] == "ConfigMapList"
    assert listed.body["apiVersion"] == "v1"


async def test_generation_grows_on_spec_changes_only(client: Client) -> None:
    created = (await client.post(DEPLOY, deployment("web"))).body
    labelled = await client.patch(f"{DEPLOY}/web", {"metadata": {"labels": {"x": "1"}}}, MERGE)
    assert labelled.body["metadata"]["generation"] == 1
    assert rv(labelled.body) > rv(created)
    scaled = await client.patch(f"{DEPLOY}/web", {"spec": {"replicas": 3}}, MERGE)
    assert scaled.body["metadata"]["generation"] == 2


async def test_generation_of_kinds_without_status_grows_on_any_non_metadata_change(
    client: Client,
) -> None:
    await client.post(CM, configmap("gen"))
    changed = await client.patch(f"{CM}/gen", {"data": {"key": "new"}}, MERGE)
    assert changed.body["metadata"]["generation"] == 2
    annotated = await client.patch(f"{CM}/gen", {"metadata": {"annotations": {"a": "b"}}}, MERGE)
    assert annotated.body["metadata"]["generation"] == 2


async def test_noop_write_keeps_resource_version(client: Client) -> None:
    created = (await client.post(CM, configmap("same"))).body
    again = await client.patch(f"{CM}/same", {"data": {"key": "value"}}, MERGE)
    assert again.status == 200
    assert rv(again.body) == rv(created)


async def test_status_subresource_is_split_from_the_main_resource(client: Client) -> None:
    await client.post(DEPLOY, {**deployment("split"), "status": {"replicas": 9}})
    stored = (await client.get(f"{DEPLOY}/split")).body
    assert "status" not in stored
    status = await client.patch(f"{DEPLOY}/split/status", {"status": {"replicas": 1}}, MERGE)
    assert status.status == 200
    assert status.body["status"] == {"replicas": 1}
    assert status.body["metadata"]["generation"] == 1
    main = await client.patch(
        f"{DEPLOY}/split", {"spec": {"replicas": 2}, "status": {"replicas": 5}}, MERGE
    )
    assert main.body["status"] == {"replicas": 1}
    assert main.body["metadata"]["generation"] == 2
    spec_via_status = await client.patch(f"{DEPLOY}/split/status", {"spec": {"replicas": 7}}, MERGE)
    assert spec_via_status.body["spec"]["replicas"] == 2


async def test_status_put_replaces_only_status(client: Client) -> None:
    created = (await client.post(DEPLOY, deployment("put-status"))).body
    body = {**created, "status": {"observedGeneration": 1}, "spec": {"replicas": 4}}
    reply = await client.put(f"{DEPLOY}/put-status/status", body)
    assert reply.status == 200
    assert reply.body["status"] == {"observedGeneration": 1}
    assert reply.body["spec"]["replicas"] == 1


async def test_missing_object_is_not_found_status(client: Client) -> None:
    reply = await client.get(f"{CM}/nope")
    assert reply.status == 404
    assert reply.body["kind"] == "Status"
    assert reply.body["reason"] == "NotFound"
    assert reply.body["status"] == "Failure"
    assert reply.body["message"] == 'configmaps "nope" not found'
    assert reply.body["details"] == {"name": "nope", "group": "", "kind": "configmaps"}


async def test_unknown_resource_and_wrong_scope_are_not_found(client: Client) -> None:
    assert (await client.get("/api/v1/namespaces/default/gizmos")).status == 404
    assert (await client.get("/api/v1/namespaces/default/namespaces/x")).status == 404
    assert (await client.get("/apis/nothing.example.com/v1")).status == 404


async def test_create_in_missing_namespace_is_not_found(client: Client) -> None:
    reply = await client.post("/api/v1/namespaces/ghost/configmaps", configmap("a", "ghost"))
    assert reply.status == 404
    assert reply.body["message"] == 'namespaces "ghost" not found'


async def test_duplicate_create_is_already_exists(client: Client) -> None:
    await client.post(CM, configmap("dup"))
    reply = await client.post(CM, configmap("dup"))
    assert reply.status == 409
    assert reply.body["reason"] == "AlreadyExists"


async def test_stale_resource_version_is_conflict_on_put_and_patch(client: Client) -> None:
    created = (await client.post(CM, configmap("race"))).body
    updated = await client.put(f"{CM}/race", {**created, "data": {"key": "two"}})
    assert updated.status == 200
    stale_put = await client.put(f"{CM}/race", {**created, "data": {"key": "three"}})
    assert stale_put.status == 409
    assert stale_put.body["reason"] == "Conflict"
    stale_version = created["metadata"]["resourceVersion"]
    stale_patch = await client.patch(
        f"{CM}/race", {"metadata": {"resourceVersion": stale_version}, "data": {"k": "v"}}, MERGE
    )
    assert stale_patch.status == 409
    fresh = updated.body["metadata"]["resourceVersion"]
    ok = await client.patch(
        f"{CM}/race", {"metadata": {"resourceVersion": fresh}, "data": {"k": "v"}}, MERGE
    )
    assert ok.status == 200


async def test_put_without_resource_version_is_unconditional(client: Client) -> None:
    await client.post(CM, configmap("free"))
    body = configmap("free")
    body["data"] = {"new": "data"}
    reply = await client.put(f"{CM}/free", body)
    assert reply.status == 200
    assert reply.body["data"] == {"new": "data"}


async def test_put_of_missing_object_is_not_found(client: Client) -> None:
    assert (await client.put(f"{CM}/absent", configmap("absent"))).status == 404


async def test_invalid_names_are_unprocessable(client: Client) -> None:
    reply = await client.post(CM, configmap("Bad_Name"))
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["details"]["causes"][0]["field"] == "metadata.name"
    nameless = await client.post(CM, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert nameless.status == 422


async def test_generate_name_makes_a_unique_name(client: Client) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    first = (await client.post(CM, body)).body["metadata"]["name"]
    second = (await client.post(CM, body)).body["metadata"]["name"]
    assert first.startswith("gen-")
    assert second.startswith("gen-")
    assert first != second


async def test_bad_bodies_are_bad_request_or_unsupported_media_type(client: Client) -> None:
    not_json = await client.request("POST", CM, raw=b"{nope", content_type="application/json")
    assert not_json.status == 400
    assert not_json.body["reason"] == "BadRequest"
    wrong_kind = await client.post(CM, {**configmap("k"), "kind": "Secret"})
    assert wrong_kind.status == 400
    other_namespace = await client.post(CM, configmap("n", "kube-system"))
    assert other_namespace.status == 400
    text = await client.request("POST", CM, raw=b"x", content_type="text/plain")
    assert text.status == 415
    assert text.body["reason"] == "UnsupportedMediaType"
    bad_patch_type = await client.patch(f"{CM}/k", {}, "text/plain")
    assert bad_patch_type.status in (404, 415)


async def test_unsupported_method_is_method_not_allowed(client: Client) -> None:
    await client.post(CM, configmap("m"))
    assert (await client.post(f"{CM}/m", configmap("m"))).status == 405
    assert (await client.post("/api/v1/configmaps", configmap("m"))).status == 405


async def test_json_patch_and_strategic_merge_patch(client: Client) -> None:
    await client.post(DEPLOY, deployment("patchy"))
    json_patch = await client.patch(
        f"{DEPLOY}/patchy", [{"op": "replace", "path": "/spec/replicas", "value": 2}], JSON_PATCH
    )
    assert json_patch.body["spec"]["replicas"] == 2
    smp = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
                    "containers": [{"name": "side", "image": "busybox"}],
                }
            }
        }
    }
    merged = await client.patch(f"{DEPLOY}/patchy", smp, STRATEGIC)
    containers = merged.body["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "side"]
    bad = await client.patch(
        f"{DEPLOY}/patchy", [{"op": "remove", "path": "/spec/nothing"}], JSON_PATCH
    )
    assert bad.status in (400, 422)
    missing = await client.patch(f"{DEPLOY}/ghost", {"spec": {}}, MERGE)
    assert missing.status == 404


async def test_server_side_apply_creates_then_conflicts_unless_forced(client: Client) -> None:
    manifest = configmap("applied")
    created = await client.patch(f"{CM}/applied", manifest, APPLY, fieldManager="helm")
    assert created.status == 201
    assert "managedFields" not in created.body["metadata"]
    changed = {**manifest, "data": {"key": "other"}}
    conflict = await client.patch(f"{CM}/applied", changed, APPLY, fieldManager="kubectl")
    assert conflict.status == 409
    assert conflict.body["reason"] == "Conflict"
    assert "helm" in conflict.body["message"]
    forced = await client.patch(
        f"{CM}/applied", changed, APPLY, fieldManager="kubectl", force="true"
    )
    assert forced.status == 200
    assert forced.body["data"] == {"key": "other"}
    nameless_manager = await client.patch(f"{CM}/applied", changed, APPLY)
    assert nameless_manager.status == 422


async def test_apply_removes_fields_the_manager_stopped_applying(client: Client) -> None:
    first = {**configmap("shrink"), "data": {"a": "1", "b": "2"}}
    await client.patch(f"{CM}/shrink", first, APPLY, fieldManager="helm")
    second = {**configmap("shrink"), "data": {"a": "1"}}
    reply = await client.patch(f"{CM}/shrink", second, APPLY, fieldManager="helm")
    assert reply.body["data"] == {"a": "1"}


async def test_apply_body_may_be_yaml(client: Client) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yamly\ndata:\n  a: b\n"
    reply = await client.request(
        "PATCH", f"{CM}/yamly", raw=body, content_type=APPLY, params={"fieldManager": "me"}
    )
    assert reply.status == 201
    assert reply.body["data"] == {"a": "b"}


def _protobuf_field(number: int, payload: bytes) -> bytes:
    key = (number << 3) | 2
    return bytes([key]) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


async def test_protobuf_secret_body_round_trips_bytes(client: Client) -> None:
    secret_bytes = bytes(range(256))
    object_meta = _protobuf_field(1, b"proto-secret")
    entry = _protobuf_field(1, b"release") + _protobuf_field(2, secret_bytes)
    secret = _protobuf_field(1, object_meta) + _protobuf_field(2, entry)
    type_meta = _protobuf_field(1, b"v1") + _protobuf_field(2, b"Secret")
    body = b"k8s\x00" + _protobuf_field(1, type_meta) + _protobuf_field(2, secret)
    reply = await client.request(
        "POST",
        "/api/v1/namespaces/default/secrets",
        raw=body,
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert reply.status == 201, reply.body
    stored = await client.get("/api/v1/namespaces/default/secrets/proto-secret")
    assert base64.b64decode(stored.body["data"]["release"]) == secret_bytes
    garbage = await client.request(
        "POST",
        "/api/v1/namespaces/default/secrets",
        raw=b"k8s\x00" + struct.pack("B", 0xFF),
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert garbage.status == 400


async def test_secret_string_data_is_stored_as_base64_data(client: Client) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "plain"},
        "stringData": {"password": "hunter2"},
    }
    reply = await client.post("/api/v1/namespaces/default/secrets", secret)
    assert reply.body["data"] == {"password": base64.b64encode(b"hunter2").decode()}
    assert reply.body["type"] == "Opaque"
    assert "stringData" not in reply.body


async def test_services_get_distinct_cluster_ips_kept_across_updates(client: Client) -> None:
    path = "/api/v1/namespaces/default/services"

    def service(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"port": 80}]},
        }

    first = (await client.post(path, service("one"))).body["spec"]["clusterIP"]
    second = (await client.post(path, service("two"))).body["spec"]["clusterIP"]
    assert first != second
    assert first.startswith(("10.96.", "10.9"))
    replaced = await client.put(f"{path}/one", service("one"))
    assert replaced.body["spec"]["clusterIP"] == first


async def test_finalizers_delay_deletion_until_removed(client: Client) -> None:
    body = configmap("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await client.post(CM, body)
    marked = await client.delete(f"{CM}/held")
    assert marked.status == 200
    assert marked.body["metadata"]["deletionTimestamp"]
    still_there = await client.get(f"{CM}/held")
    assert still_there.status == 200
    again = await client.delete(f"{CM}/held")
    assert (
        again.body["metadata"]["deletionTimestamp"] == marked.body["metadata"]["deletionTimestamp"]
    )
    released = await client.patch(f"{CM}/held", {"metadata": {"finalizers": None}}, MERGE)
    assert released.status == 200
    assert (await client.get(f"{CM}/held")).status == 404


async def test_delete_preconditions_are_checked(client: Client) -> None:
    created = (await client.post(CM, configmap("pre"))).body
    wrong = await client.delete(f"{CM}/pre", {"preconditions": {"resourceVersion": "1"}})
    assert wrong.status == 409
    right = await client.delete(f"{CM}/pre", {"preconditions": {"uid": created["metadata"]["uid"]}})
    assert right.status == 200


async def _owned_configmap(client: Client, owner: dict[str, Any], name: str) -> None:
    body = configmap(name)
    body["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
    ]
    assert (await client.post(CM, body)).status == 201


async def test_dependents_are_garbage_collected_with_their_owner(client: Client) -> None:
    owner = (await client.post(CM, configmap("owner"))).body
    await _owned_configmap(client, owner, "child")
    child = (await client.get(f"{CM}/child")).body
    await _owned_configmap(client, child, "grandchild")
    await client.delete(f"{CM}/owner", {"propagationPolicy": "Background"})
    assert (await client.get(f"{CM}/child")).status == 404
    assert (await client.get(f"{CM}/grandchild")).status == 404


async def test_orphan_propagation_keeps_dependents_without_the_reference(client: Client) -> None:
    owner = (await client.post(CM, configmap("parent"))).body
    await _owned_configmap(client, owner, "orphan")
    await client.delete(f"{CM}/parent", propagationPolicy="Orphan")
    orphan = await client.get(f"{CM}/orphan")
    assert orphan.status == 200
    assert "ownerReferences" not in orphan.body["metadata"]


async def test_namespace_deletion_removes_its_objects(client: Client) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}}
    created = await client.post("/api/v1/namespaces", namespace)
    assert created.body["status"] == {"phase": "Active"}
    await client.post("/api/v1/namespaces/doomed/configmaps", configmap("x", "doomed"))
    await client.delete("/api/v1/namespaces/doomed")
    assert (await client.get("/api/v1/namespaces/doomed/configmaps/x")).status == 404
    assert (await client.get("/api/v1/namespaces/doomed")).status == 404


async def test_initial_namespaces_exist(client: Client) -> None:
    names = {n["metadata"]["name"] for n in (await client.get("/api/v1/namespaces")).body["items"]}
    assert {"default", "kube-system", "kube-public"} <= names


async def test_dry_run_checks_but_stores_nothing(client: Client) -> None:
    dry = {"dryRun": "All"}
    created = await client.request("POST", CM, configmap("dry"), params=dry)
    assert created.status == 201
    assert created.body["metadata"]["uid"]
    assert (await client.get(f"{CM}/dry")).status == 404
    duplicate = await client.post(CM, configmap("real"))
    again = await client.request("POST", CM, configmap("real"), params=dry)
    assert again.status == 409
    patched = await client.patch(f"{CM}/real", {"data": {"key": "dry"}}, MERGE, dryRun="All")
    assert patched.body["data"] == {"key": "dry"}
    stored = (await client.get(f"{CM}/real")).body
    assert stored["data"] == {"key": "value"}
    assert stored["metadata"]["resourceVersion"] == duplicate.body["metadata"]["resourceVersion"]
    assert (await client.delete(f"{CM}/real", dryRun="All")).status == 200
    assert (await client.get(f"{CM}/real")).status == 200


async def test_delete_collection_honours_selectors(client: Client) -> None:
    await client.post(CM, configmap("keep", tier="a"))
    await client.post(CM, configmap("drop1", tier="b"))
    await client.post(CM, configmap("drop2", tier="b"))
    reply = await client.delete(CM, labelSelector="tier=b")
    assert [i["metadata"]["name"] for i in reply.body["items"]] == ["drop1", "drop2"]
    left = [i["metadata"]["name"] for i in (await client.get(CM)).body["items"]]
    assert left == ["keep"]
