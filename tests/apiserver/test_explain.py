"""CRD schemas in OpenAPI v3, CRD status causes and Tables, against the real kubectl.

Covers ``kubectl explain`` reading the flux.weave.works/v1beta1 HelmRelease schema the
server publishes under ``components.schemas`` (descriptions and required fields, and a
changed description seen through the document hash), the field, reason and message of
the causes of a 422 for a non-structural CRD and an invalid custom resource (a oneOf
failure included), and ``as=Table`` responses: ``kubectl get fhr`` showing the CRD's
printer columns (priority columns with ``-o wide``), a built-in kind's own columns,
``includeObject``, and plain objects for clients that do not ask for a Table; plus the
printer columns' JSONPath subset and the age format.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from apitesting import (
    DEPLOYED_CHART_VERSION,
    Client,
    Run,
    deployed_message,
    deployed_status,
    helmrelease,
)

from apiserver.crds import (
    AGE_COLUMN,
    PrinterColumn,
    cell,
    human_duration,
    json_path,
)
from testkit import CRDS_DIR

CRD_FILE = CRDS_DIR / "helmreleases.flux.weave.works.yaml"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
HELMRELEASES = "/apis/flux.weave.works/v1beta1/namespaces/default/helmreleases"
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_ACCEPT = f"{TABLE_V1},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


CRD_TEXT = CRD_FILE.read_text()


def helmrelease_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_TEXT)
    return crd


def chart_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    chart: dict[str, Any] = schema["properties"]["spec"]["properties"]["chart"]
    return chart


def words(text: str) -> str:
    """Text with its line wrapping undone, to compare kubectl's wrapped output."""
    return " ".join(text.split())


async def deployed_helmrelease(client: Client, name: str) -> None:
    """A HelmRelease with the status the operator writes after installing it."""
    assert (await client.post(CRDS, helmrelease_crd())).status == 201
    assert (await client.post(HELMRELEASES, helmrelease(name))).status == 201
    patched = await client.patch(
        f"{HELMRELEASES}/{name}/status", deployed_status(name), "application/merge-patch+json"
    )
    assert patched.status == 200, patched.body


async def get_with_accept(client: Client, path: str, accept: str, **params: str) -> Any:
    async with client.session.get(
        client.base + path, headers={"Accept": accept}, params=params
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


# --- kubectl explain ----------------------------------------------------------------------


async def test_kubectl_explain_prints_the_crd_descriptions(run: Run) -> None:
    (await run("kubectl", "apply", "-f", str(CRD_FILE))).check()
    explained = (await run("kubectl", "explain", "helmreleases.spec.chart")).check().stdout
    chart = chart_schema(helmrelease_crd())
    assert "KIND:       HelmRelease" in explained
    assert "VERSION:    v1beta1" in explained
    assert words(chart["description"]) in words(explained)
    for field, schema in chart["properties"].items():
        assert re.search(rf"^  {field}\t<", explained, re.MULTILINE), field
        assert words(schema["description"]) in words(explained), field
    # The chart's fields are required only together (its oneOf), which explain cannot show.
    assert "-required-" not in explained
    spec = (await run("kubectl", "explain", "helmreleases.spec")).check().stdout
    assert re.search(r"^  chart\t<Object> -required-$", spec, re.MULTILINE)
    assert re.search(r"^  releaseName\t<string>$", spec, re.MULTILINE)


async def test_explain_sees_a_changed_schema_through_the_hash(run: Run, client: Client) -> None:
    crd = helmrelease_crd()
    described = chart_schema(crd)["properties"]["name"]["description"]
    (await run("kubectl", "apply", "-f", "-", stdin=yaml.safe_dump(crd))).check()
    first = (await run("kubectl", "explain", "helmreleases.spec.chart.name")).check().stdout
    before = (await client.get("/openapi/v3")).body["paths"]["apis/flux.weave.works/v1beta1"]
    chart_schema(crd)["properties"]["name"]["description"] = "The chart, by its index name."
    (await run("kubectl", "apply", "-f", "-", stdin=yaml.safe_dump(crd))).check()
    after = (await client.get("/openapi/v3")).body["paths"]["apis/flux.weave.works/v1beta1"]
    assert before != after
    second = (await run("kubectl", "explain", "helmreleases.spec.chart.name")).check().stdout
    assert words(described) in words(first)
    assert "The chart, by its index name." in second
    assert words(described) not in words(second)


async def test_openapi_document_carries_the_schema_with_its_kind(client: Client) -> None:
    await client.post(CRDS, helmrelease_crd())
    document = (await client.get("/openapi/v3/apis/flux.weave.works/v1beta1")).body
    schema = document["components"]["schemas"]["works.weave.flux.v1beta1.HelmRelease"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "flux.weave.works", "version": "v1beta1", "kind": "HelmRelease"}
    ]
    assert schema["properties"]["spec"]["properties"]["chart"] == chart_schema(helmrelease_crd())
    built_in = (await client.get("/openapi/v3/apis/apps/v1")).body
    assert built_in["components"]["schemas"] == {}


# --- causes of 422 ------------------------------------------------------------------------


async def test_structural_errors_name_the_schema_field(client: Client) -> None:
    crd = helmrelease_crd()
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    reply = await client.post(CRDS, crd)
    assert reply.status == 422
    field = "spec.versions[0].schema.openAPIV3Schema.properties[spec].type"
    message = "Required value: must not be empty for specified object fields"
    assert reply.body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": message, "field": field}
    ]
    assert reply.body["message"] == (
        f'CustomResourceDefinition.apiextensions.k8s.io "helmreleases.flux.weave.works" '
        f"is invalid: {field}: {message}"
    )


async def test_crd_causes_carry_the_reason_of_their_type(client: Client) -> None:
    crd = helmrelease_crd()
    crd["spec"]["scope"] = "Everywhere"
    del crd["spec"]["names"]["kind"]
    reply = await client.post(CRDS, crd)
    assert reply.status == 422
    reasons = {c["field"]: c["reason"] for c in reply.body["details"]["causes"]}
    assert reasons == {
        "spec.scope": "FieldValueNotSupported",
        "spec.names.kind": "FieldValueRequired",
    }


async def test_custom_resource_causes_carry_the_schema_reason(client: Client) -> None:
    await client.post(CRDS, helmrelease_crd())
    invalid = helmrelease("bad")
    invalid["spec"]["releaseName"] = "Not_A_Label"
    invalid["spec"]["chart"] = {"git": "git@github.com:org/repo"}  # without its path
    reply = await client.post(HELMRELEASES, invalid)
    assert reply.status == 422
    causes = {c["field"]: c for c in reply.body["details"]["causes"]}
    assert {field: cause["reason"] for field, cause in causes.items()} == {
        "spec.releaseName": "FieldValueInvalid",
        "spec.chart.path": "FieldValueRequired",
        # The chart holds neither branch of its oneOf (git and path, or repository, name and
        # version): like the real server, a cause without a field path (Go's nil path prints
        # as <nil>), beside the errors of the branch git and path.
        "<nil>": "FieldValueInvalid",
    }
    assert causes["<nil>"]["message"] == (
        'Invalid value: "": "spec.chart" must validate one and only one schema (oneOf).'
        " Found none valid"
    )


# --- Tables -------------------------------------------------------------------------------


COLUMNS = ["NAME", "RELEASE", "PHASE", "RELEASESTATUS", "MESSAGE", "READY", "AGE"]


def deployed_cells(name: str) -> list[str]:
    """The words kubectl prints for ``deployed_status(name)`` up to the Age column."""
    return [
        name,
        f"default-{name}",
        "Succeeded",
        "deployed",
        *deployed_message(name).split(),
        "True",
    ]


async def test_kubectl_get_shows_the_printer_columns(run: Run, client: Client) -> None:
    await deployed_helmrelease(client, "podinfo")
    # flux.weave.works/v1beta1 answers to fhr (hr belongs to helm.fluxcd.io/v1).
    table = (await run("kubectl", "get", "fhr")).check().stdout.splitlines()
    assert table[0].split() == COLUMNS
    cells = deployed_cells("podinfo")
    row = table[1].split()
    assert row[: len(cells)] == cells
    assert re.fullmatch(r"\d+s", row[len(cells)])
    assert len(row) == len(cells) + 1
    wide = (await run("kubectl", "get", "fhr", "podinfo", "-o", "wide")).check().stdout
    header, row_text = wide.splitlines()
    assert header.split() == [*COLUMNS, "CHART", "VERSION"]
    row = row_text.split()
    assert row[: len(cells)] == cells
    assert row[len(cells) + 1 :] == ["podinfo", DEPLOYED_CHART_VERSION]
    full = (await run("kubectl", "get", "helmreleases.flux.weave.works")).check().stdout
    assert full.splitlines()[0].split() == COLUMNS


async def test_kubectl_get_of_a_built_in_kind_shows_its_own_columns(run: Run) -> None:
    (await run("kubectl", "create", "configmap", "settings")).check()
    table = (await run("kubectl", "get", "configmaps")).check().stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert table[1].split()[:2] == ["settings", "0"]


async def test_table_response_follows_the_request(client: Client) -> None:
    await deployed_helmrelease(client, "podinfo")
    table = await get_with_accept(client, HELMRELEASES, KUBECTL_ACCEPT)
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Name",
        "Release",
        "Phase",
        "ReleaseStatus",
        "Message",
        "Ready",
        "Age",
        "Chart",
        "Version",
    ]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert [c["priority"] for c in table["columnDefinitions"]] == [0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert [c["type"] for c in table["columnDefinitions"]] == [
        "string",
        *["string"] * 5,
        "date",
        "string",
        "string",
    ]
    (row,) = table["rows"]
    expected = ["podinfo", "default-podinfo", "Succeeded", "deployed", deployed_message("podinfo")]
    assert row["cells"][:6] == [*expected, "True"]
    assert re.fullmatch(r"\d+s", row["cells"][6])
    assert row["cells"][7:] == ["podinfo", DEPLOYED_CHART_VERSION]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "podinfo"
    assert table["metadata"]["resourceVersion"]
    whole = await get_with_accept(client, HELMRELEASES, TABLE_V1, includeObject="Object")
    assert whole["rows"][0]["object"]["spec"]["chart"]["name"] == "podinfo"
    bare = await get_with_accept(client, f"{HELMRELEASES}/podinfo", TABLE_V1, includeObject="None")
    assert bare["kind"] == "Table"
    assert "object" not in bare["rows"][0]
    older = await get_with_accept(
        client, HELMRELEASES, "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
    )
    assert older["apiVersion"] == "meta.k8s.io/v1beta1"
    plain = await get_with_accept(client, HELMRELEASES, "application/json," + TABLE_V1)
    assert plain["kind"] == "HelmReleaseList"
    assert (await client.get(HELMRELEASES)).body["kind"] == "HelmReleaseList"


async def test_a_crd_without_printer_columns_gets_age(client: Client) -> None:
    crd = helmrelease_crd()
    del crd["spec"]["versions"][0]["additionalPrinterColumns"]
    await client.post(CRDS, crd)
    await client.post(HELMRELEASES, helmrelease("plain"))
    table = await get_with_accept(client, HELMRELEASES, TABLE_V1)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"][0] == "plain"


def test_json_path_subset() -> None:
    obj = {
        "spec": {"chart": {"name": "podinfo"}, "replicas": 2, "flags": [True]},
        "status": {
            "conditions": [
                {"type": "Released", "status": "False"},
                {"type": "Ready", "status": "True"},
            ]
        },
    }
    assert list(json_path(".spec.chart.name", obj)) == ["podinfo"]
    assert list(json_path('.status.conditions[?(@.type=="Ready")].status', obj)) == ["True"]
    assert list(json_path(".status.conditions[?(@.type=='Released')].status", obj)) == ["False"]
    assert list(json_path(".status.conditions[-1].type", obj)) == ["Ready"]
    assert list(json_path(".status.conditions[5].type", obj)) == []
    assert list(json_path(".spec.missing.name", obj)) == []
    assert list(json_path("spec.chart", obj)) == []
    assert list(json_path("", obj)) == []


def test_cells_follow_the_column_type() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    created = (now - timedelta(minutes=3, seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj: dict[str, Any] = {
        "metadata": {"creationTimestamp": created},
        "spec": {"n": 2, "on": True, "m": {"a": 1}},
    }
    assert cell(AGE_COLUMN, obj, now) == "3m20s"
    assert cell(PrinterColumn("N", "integer", ".spec.n"), obj, now) == 2
    assert cell(PrinterColumn("N", "number", ".spec.n"), obj, now) == 2.0
    assert cell(PrinterColumn("N", "string", ".spec.n"), obj, now) == "2"
    assert cell(PrinterColumn("M", "string", ".spec.m"), obj, now) == '{"a":1}'
    assert cell(PrinterColumn("On", "boolean", ".spec.on"), obj, now) is True
    assert cell(PrinterColumn("On", "integer", ".spec.on"), obj, now) is None
    assert cell(PrinterColumn("X", "string", ".spec.x"), obj, now) is None
    broken = copy.deepcopy(obj)
    broken["metadata"]["creationTimestamp"] = "yesterday"
    assert cell(AGE_COLUMN, broken, now) == "<invalid>"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 60, "7h1m"),
        (30 * 3600, "30h"),
        (2 * 86400, "2d"),
        (3 * 86400 + 3600, "3d1h"),
        (100 * 86400, "100d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_like_kubectl(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown
