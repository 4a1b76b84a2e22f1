"""OpenAPI v2 at /openapi/v2, which the real kubectl 1.35 validates a ``kind: List`` against.

kubectl checks the items of a v1 List on the client (the List has no endpoint to ask for
``fieldValidation=Strict``), against the protobuf form of the document, the only one it asks
for. Covers applying a List of a ConfigMap and a HelmRelease of the project's CRDs, the real
messages for a misspelled or mistyped field in an item (a type the client cannot see is left to
the server, as on a real cluster), ``kubectl explain`` from v3 and from v2, the content
negotiation, gzip and ETag revalidation (which kubectl's HTTP cache uses), a rebuild when a CRD
changes, and the CRD schema's conversion to v2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from apitesting import Client, Run

from apiserver import ApiServer
from apiserver.openapi_v2 import JSON, PROTOBUF, negotiate, swagger_document
from apiserver.resources import GroupResource, ResourceType
from testkit import CRDS_DIR

KUBECTL_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
CONFIGMAP = "io.k8s.api.core.v1.ConfigMap"
HELMRELEASE = "works.weave.flux.v1beta1.HelmRelease"
CHART = {"repository": "https://charts.example.com/", "name": "rabbitmq", "version": "3.3.6"}


def configmap(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, **fields}


def helm_release(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": "rabbitmq"},
        "spec": {"releaseName": "rabbitmq", "chart": CHART, **spec},
    }


def list_file(tmp_path: Path, *items: dict[str, Any]) -> str:
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)}))
    return str(path)


def openapi_v2_codes(apiserver: ApiServer, start: int) -> list[int]:
    return [r.code for r in apiserver.audit[start:] if r.path.startswith("/openapi/v2")]


@pytest.mark.usefixtures("crds")
async def test_applying_a_list_stores_every_item(
    apiserver: ApiServer, run: Run, tmp_path: Path
) -> None:
    manifest = list_file(tmp_path, configmap(data={"mode": "fast"}), helm_release())
    start = len(apiserver.audit)
    applied = (await run("kubectl", "apply", "-f", manifest)).check()
    assert "configmap/settings created" in applied.stdout
    assert "helmrelease.flux.weave.works/rabbitmq created" in applied.stdout
    assert apiserver.store.get(GroupResource("", "configmaps"), "default", "settings")
    stored = apiserver.store.get_object(
        GroupResource("flux.weave.works", "helmreleases"), "default", "rabbitmq"
    )
    assert stored["spec"]["chart"] == CHART
    assert openapi_v2_codes(apiserver, start) == [200]
    # Again: kubectl's HTTP cache revalidates its copy by ETag, and the server answers 304.
    start = len(apiserver.audit)
    again = (await run("kubectl", "apply", "-f", manifest)).check()
    assert "configmap/settings unchanged" in again.stdout
    assert openapi_v2_codes(apiserver, start) == [304]


@pytest.mark.usefixtures("crds")
async def test_a_misspelled_field_in_a_list_item_is_refused(
    apiserver: ApiServer, run: Run, tmp_path: Path
) -> None:
    manifest = list_file(tmp_path, configmap(dataa={"mode": "fast"}), helm_release())
    refused = await run("kubectl", "apply", "-f", manifest)
    assert refused.code != 0
    assert (
        f'error validating data: ValidationError(ConfigMap): unknown field "dataa" in {CONFIGMAP};'
        " if you choose to ignore these errors, turn validation off with --validate=false"
        in refused.stderr
    )
    # Refused before anything is written, the valid item included.
    assert apiserver.store.get(GroupResource("", "configmaps"), "default", "settings") is None
    assert (
        apiserver.store.get(
            GroupResource("flux.weave.works", "helmreleases"), "default", "rabbitmq"
        )
        is None
    )

    manifest = list_file(tmp_path, helm_release(bogus=1))
    refused = await run("kubectl", "apply", "-f", manifest)
    assert refused.code != 0
    assert (
        f'ValidationError(HelmRelease.spec): unknown field "bogus" in {HELMRELEASE}.spec'
        in refused.stderr
    )


@pytest.mark.usefixtures("crds")
async def test_a_mistyped_field_in_a_list_item_is_refused(run: Run, tmp_path: Path) -> None:
    labels = configmap(metadata={"name": "settings", "labels": "fast"})
    refused = await run("kubectl", "apply", "-f", list_file(tmp_path, labels))
    assert refused.code != 0
    assert (
        "ValidationError(ConfigMap.metadata.labels): invalid type for"
        ' io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.labels: got "string", expected "map"'
        in refused.stderr
    )
    # kubectl takes any scalar for a string field: the server's strict decoding refuses it.
    number = configmap(data={"replicas": 1})
    refused = await run("kubectl", "apply", "-f", list_file(tmp_path, number))
    assert refused.code != 0
    assert (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal'
        " number into Go struct field ConfigMap.data of type string" in refused.stderr
    )


@pytest.mark.usefixtures("crds")
async def test_kubectl_explain_reads_v3_and_v2(run: Run) -> None:
    explained = (await run("kubectl", "explain", "helmreleases.spec.chart")).check().stdout
    assert "KIND:       HelmRelease" in explained
    from_v2 = ("--output", "plaintext-openapiv2")
    explained = (await run("kubectl", "explain", "helmreleases.spec.chart", *from_v2)).check()
    assert "VERSION:  flux.weave.works/v1beta1" in explained.stdout
    assert "chartPullSecret\t<Object>" in explained.stdout
    explained = (await run("kubectl", "explain", "configmap.data", *from_v2)).check()
    assert "FIELD:    data <map[string]string>" in explained.stdout
    explained = (await run("kubectl", "explain", "deploy.spec.template.spec", *from_v2)).check()
    assert "containers\t<[]Object> -required-" in explained.stdout


async def get(client: Client, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with client.session.get(client.base + "/openapi/v2", headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


@pytest.mark.usefixtures("crds")
async def test_the_document_is_negotiated_gzipped_and_cached(client: Client) -> None:
    status, headers, proto = await get(client, {"Accept": KUBECTL_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == PROTOBUF
    assert headers["Content-Encoding"] == "gzip"  # aiohttp asks for it, as Go's client does
    etag = headers["Etag"]
    assert len(etag) == 130  # the quoted upper-case hex SHA-512 of the JSON form
    assert headers["Last-Modified"]
    assert b"io.k8s.api.core.v1.ConfigMap" in proto
    assert HELMRELEASE.encode() in proto

    status, headers, body = await get(client, {"Accept": "application/json"})
    assert status == 200
    assert headers["Content-Type"] == JSON
    assert headers["Etag"] == etag  # one ETag for both forms, as on a real server
    document = json.loads(body)
    assert document["swagger"] == "2.0"
    gvk = {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert document["definitions"][CONFIGMAP]["x-kubernetes-group-version-kind"] == [gvk]
    assert "$defs" not in body.decode()
    patch = document["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == gvk
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    release = document["definitions"][HELMRELEASE]
    assert release["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    assert HELMRELEASE + "List" in document["definitions"]

    status, headers, body = await get(client, {"Accept": KUBECTL_ACCEPT, "If-None-Match": etag})
    assert (status, headers["Etag"], body) == (304, etag, b"")
    status, _, _ = await get(client, {"Accept": "text/html"})
    assert status == 406
    status, headers, _ = await get(client, {})
    assert (status, headers["Content-Type"]) == (200, JSON)


@pytest.mark.usefixtures("crds")
async def test_a_changed_crd_changes_the_document(client: Client, run: Run) -> None:
    _, headers, _ = await get(client, {"Accept": KUBECTL_ACCEPT})
    crd = yaml.safe_load((CRDS_DIR / "helmreleases.flux.weave.works.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["chart"]["description"] = "Where the chart is."
    (await run("kubectl", "apply", "-f", "-", stdin=yaml.safe_dump(crd))).check()
    status, changed, body = await get(
        client, {"Accept": "application/json", "If-None-Match": headers["Etag"]}
    )
    assert status == 200
    assert changed["Etag"] != headers["Etag"]
    spec = json.loads(body)["definitions"][HELMRELEASE]["properties"]["spec"]
    assert spec["properties"]["chart"]["description"] == "Where the chart is."


def test_negotiation_follows_preference() -> None:
    assert negotiate(KUBECTL_ACCEPT) == PROTOBUF
    assert negotiate("application/com.github.proto-openapi.spec.v2.v1.0+protobuf") == PROTOBUF
    assert negotiate("application/json;q=0.5, application/*") == JSON
    assert negotiate(f"application/json;q=0.5, {KUBECTL_ACCEPT}") == PROTOBUF
    assert negotiate("*/*") == JSON
    assert negotiate("text/plain, application/json;q=0") is None


def test_a_crd_schema_is_published_as_v2_publishes_it() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size", "note"],
                "oneOf": [{"required": ["size"]}],
                "properties": {
                    "size": {"type": "integer", "minimum": 1, "default": 3},
                    "note": {"type": "string", "nullable": True},
                    "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}]},
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "properties": {"spec": {"type": "object"}},
                    },
                },
            }
        },
    }
    widget = ResourceType("example.com", "v1", "widgets", "widget", "Widget", True, schema=schema)
    free = ResourceType(
        "example.com",
        "v1",
        "things",
        "thing",
        "Thing",
        True,
        schema={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    )
    definitions = swagger_document([widget, free])["definitions"]
    spec = definitions["com.example.v1.Widget"]["properties"]["spec"]
    assert spec["required"] == ["size"]  # a nullable field is not required in v2
    assert "oneOf" not in spec
    assert spec["properties"]["size"] == {"type": "integer", "minimum": 1}  # no default
    assert spec["properties"]["note"] == {}
    assert spec["properties"]["values"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert spec["properties"]["port"] == {"x-kubernetes-int-or-string": True}
    template = spec["properties"]["template"]
    assert set(template["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    assert template["required"] == ["kind", "apiVersion"]
    assert definitions["com.example.v1.Thing"] == {
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "example.com", "version": "v1", "kind": "Thing"}
        ],
    }
    assert definitions["com.example.v1.WidgetList"]["properties"]["items"]["items"] == {
        "$ref": "#/definitions/com.example.v1.Widget"
    }


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_the_protobuf_body_is_the_same_either_way(client: Client, encoding: str) -> None:
    status, headers, body = await get(
        client, {"Accept": KUBECTL_ACCEPT, "Accept-Encoding": encoding}
    )
    assert status == 200
    assert (headers.get("Content-Encoding") == "gzip") == (encoding == "gzip")
    _, _, reference = await get(client, {"Accept": KUBECTL_ACCEPT})
    assert body == reference
