"""The HelmRelease CRDs of both groups (manifests/crds/), against helm-operator's APIs.

Covers, offline: both CRDs are structural and well formed, every field has a type and a
description and none a default; helm.fluxcd.io/v1 holds every field of helm-operator 1.x's
own CRD (a copy in tests/data/) with a compatible type, asks for no field that one did not
and keeps its enums; flux.weave.works/v1beta1 holds the 0.10-era field set (with its oneOf
rules, as constraint-only branches) and every v1 field but helmVersion; both share one
status schema and one set of printer columns; features not built yet say so; short names
are distinct and the shared categories clash with no resource name.
Against the in-memory API server with the real kubectl: both CRDs are accepted and
served; `kubectl get hr`, `fhr`, the category, the printer columns and `kubectl explain`
behave as docs/kubectl-names.md says; nothing is defaulted; the v1beta1 oneOf rules and
repository URLs; a status whose revision an older CRD left as an integer is repaired by a
merge patch that writes it as a string.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from apiserver.crds import crd_errors
from apiserver.schema import structural_errors
from testkit import CRDS_DIR, ROOT, Completed, kubectl_bin, register_crds, run

Doc = dict[str, Any]

V1_FILE = CRDS_DIR / "helmreleases.helm.fluxcd.io.yaml"
V1BETA1_FILE = CRDS_DIR / "helmreleases.flux.weave.works.yaml"
UPSTREAM_V1_FILE = ROOT / "tests" / "data" / "helm-operator-crd-helm.fluxcd.io-v1.yaml"
V1 = "helm.fluxcd.io/v1"
V1BETA1 = "flux.weave.works/v1beta1"
CATEGORY = "helmreleases-all"

# The flux.weave.works/v1beta1 field set of helm-operator's 0.10 era, as listed in
# docs/reference-controllers.md section 1a (read from its types.go and CRD at fcffc440^).
FIELDS_0_10 = [
    "spec.chart.git",
    "spec.chart.path",
    "spec.chart.ref",
    "spec.chart.skipDepUpdate",
    "spec.chart.repository",
    "spec.chart.name",
    "spec.chart.version",
    "spec.chart.chartPullSecret.name",
    "spec.releaseName",
    "spec.valueFileSecrets[].name",
    *[
        f"spec.valuesFrom[].{ref}.{key}"
        for ref in ("configMapKeyRef", "secretKeyRef")
        for key in ("name", "key", "optional")
    ],
    "spec.valuesFrom[].externalSourceRef.url",
    "spec.valuesFrom[].externalSourceRef.optional",
    "spec.valuesFrom[].chartFileRef.path",
    "spec.valuesFrom[].chartFileRef.optional",
    # extensions (helm-controller's names)
    "spec.valuesFrom[].targetPath",
    "spec.valuesFrom[].configMapKeyRef.valuesKey",
    "spec.valuesFrom[].secretKeyRef.valuesKey",
    "spec.values",
    "spec.targetNamespace",
    "spec.timeout",
    "spec.resetValues",
    "spec.forceUpgrade",
    *[
        f"spec.rollback.{key}"
        for key in ("enable", "force", "recreate", "disableHooks", "timeout", "wait")
    ],
    "status.releaseName",
    "status.releaseStatus",
    "status.observedGeneration",
    "status.valuesChecksum",
    "status.revision",
]
OUR_V1BETA1_EXTENSIONS = ["spec.wait", "spec.skipCRDs", "spec.maxHistory"]


PRINTER_COLUMNS = [
    ("Release", ".status.releaseName", 0),
    ("Phase", ".status.phase", 0),
    ("ReleaseStatus", ".status.releaseStatus", 0),
    ("Message", '.status.conditions[?(@.type=="Ready")].message', 0),
    ("Ready", '.status.conditions[?(@.type=="Ready")].status', 0),
    ("Age", ".metadata.creationTimestamp", 0),
    ("Chart", ".spec.chart.name", 1),
    ("Version", ".status.revision", 1),
]


def load(path: Path) -> Doc:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert len(docs) == 1, path
    crd: Doc = docs[0]
    return crd


CRDS = {V1: load(V1_FILE), V1BETA1: load(V1BETA1_FILE)}
UPSTREAM_V1 = load(UPSTREAM_V1_FILE)


def version_of(crd: Doc) -> Doc:
    versions: list[Doc] = crd["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def schema_of(crd: Doc) -> Doc:
    schema: Doc = version_of(crd)["schema"]["openAPIV3Schema"]
    return schema


def fields(node: Doc, path: str = "") -> Iterator[tuple[str, Doc]]:
    """Every field below ``node`` with its path (``spec.valuesFrom[].url``); the items of an
    array are ``<array>[]``; what ``x-kubernetes-preserve-unknown-fields`` keeps is not walked."""
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from fields(child, child_path)
    if "items" in node:
        yield f"{path}[]", node["items"]
        yield from fields(node["items"], f"{path}[]")


def field_map(crd: Doc) -> dict[str, Doc]:
    return dict(fields(schema_of(crd)))


def nodes(node: Any) -> Iterator[Doc]:
    """Every schema node below ``node``, value validations (oneOf, ...) included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)


def words(text: str) -> str:
    return " ".join(text.split())


both = pytest.mark.parametrize("api_version", [V1, V1BETA1])


# --- offline: the CRDs themselves -----------------------------------------------------------


def test_the_crd_directory_holds_one_crd_per_group() -> None:
    assert sorted(path.name for path in CRDS_DIR.glob("*.yaml")) == [
        V1BETA1_FILE.name,
        V1_FILE.name,
    ]
    for api_version, crd in CRDS.items():
        group, version = api_version.split("/")
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert crd["metadata"]["name"] == f"helmreleases.{group}"
        assert (crd["spec"]["group"], crd["spec"]["scope"]) == (group, "Namespaced")
        names = crd["spec"]["names"]
        assert (names["kind"], names["listKind"], names["plural"], names["singular"]) == (
            "HelmRelease",
            "HelmReleaseList",
            "helmreleases",
            "helmrelease",
        )
        served = version_of(crd)
        assert (served["name"], served["served"], served["storage"]) == (version, True, True)
        assert served["subresources"] == {"status": {}}


@both
def test_the_crd_is_structural_and_well_formed(api_version: str) -> None:
    crd = CRDS[api_version]
    assert structural_errors(schema_of(crd)) == []
    assert crd_errors(crd) == []


@both
def test_every_field_has_a_type_and_a_description(api_version: str) -> None:
    found = field_map(CRDS[api_version])
    assert len(found) > 80  # the walk reached the nested fields
    assert [path for path, node in found.items() if not node.get("description", "").strip()] == []
    assert [path for path, node in found.items() if "type" not in node] == []
    assert schema_of(CRDS[api_version])["description"]


@both
def test_no_field_has_a_default(api_version: str) -> None:
    # The operator applies defaults itself and must tell unset (resetValues, wait) from false.
    assert [node for node in nodes(schema_of(CRDS[api_version])) if "default" in node] == []


@both
def test_value_validations_only_constrain(api_version: str) -> None:
    # Structural schemas allow oneOf/anyOf/allOf/not with constraints only: no types nor
    # descriptions inside. Ours only say which fields are required together.
    for node in nodes(schema_of(CRDS[api_version])):
        for keyword in ("oneOf", "anyOf", "allOf", "not"):
            branches = node.get(keyword, [])
            for branch in branches if isinstance(branches, list) else [branches]:
                assert set(branch) == {"required"}, (keyword, branch)


def compatible(ours: Doc, upstream: Doc, path: str) -> None:
    """``ours`` admits whatever ``upstream`` admitted at ``path`` and keeps its meaning."""
    if "type" in upstream:
        assert ours["type"] == upstream["type"], path
    else:
        assert upstream.get("x-kubernetes-preserve-unknown-fields") is True, path
        assert ours.get("x-kubernetes-preserve-unknown-fields") is True, path
    if "format" in upstream:
        assert ours.get("format") == upstream["format"], path
    if "enum" in ours:
        assert set(upstream.get("enum", ours["enum"])) <= set(ours["enum"]), path
    assert set(ours.get("required", [])) <= set(upstream.get("required", [])), path


def test_every_field_of_helm_operators_v1_crd_is_in_ours() -> None:
    upstream_version = version_of(UPSTREAM_V1)
    assert upstream_version["name"] == "v1"
    upstream = dict(fields(upstream_version["schema"]["openAPIV3Schema"]))
    ours = field_map(CRDS[V1])
    assert len(upstream) > 75  # spec and status, down to valuesFrom[].secretKeyRef.optional
    assert sorted(set(upstream) - set(ours)) == []
    for path, node in upstream.items():
        compatible(ours[path], node, path)
    root = schema_of(CRDS[V1])
    assert set(root["required"]) <= set(upstream_version["schema"]["openAPIV3Schema"]["required"])


def test_v1_asks_for_nothing_helm_operators_crd_did_not() -> None:
    # Its final CRD had no oneOf: a chart with neither version nor git (the guide's Helm 2
    # to 3 migration example) was admitted, and so is it here.
    assert [n for n in nodes(schema_of(CRDS[V1])) if {"oneOf", "anyOf", "allOf"} & set(n)] == []
    chart = field_map(CRDS[V1])["spec.chart"]
    assert "required" not in chart


def test_v1beta1_holds_the_0_10_era_field_set_and_our_extensions() -> None:
    ours = field_map(CRDS[V1BETA1])
    assert [path for path in [*FIELDS_0_10, *OUR_V1BETA1_EXTENSIONS] if path not in ours] == []
    assert ours["spec.values"]["x-kubernetes-preserve-unknown-fields"] is True
    assert ours["status.revision"]["type"] == "string"


def test_v1beta1_keeps_the_0_10_era_one_of_rules() -> None:
    ours = field_map(CRDS[V1BETA1])
    assert ours["spec.chart"]["oneOf"] == [
        {"required": ["git", "path"]},
        {"required": ["repository", "name", "version"]},
    ]
    assert ours["spec.valuesFrom[]"]["oneOf"] == [
        {"required": [source]}
        for source in ("configMapKeyRef", "secretKeyRef", "externalSourceRef", "chartFileRef")
    ]


def test_both_groups_offer_the_same_fields_except_helm_version() -> None:
    v1, v1beta1 = field_map(CRDS[V1]), field_map(CRDS[V1BETA1])
    assert set(v1) - set(v1beta1) == {"spec.helmVersion"}
    assert set(v1beta1) - set(v1) == set()
    for path in v1beta1:
        assert (v1[path]["type"], v1[path].get("format")) == (
            v1beta1[path]["type"],
            v1beta1[path].get("format"),
        ), path
    assert v1["spec.helmVersion"]["enum"] == ["v2", "v3"]


def test_both_groups_share_one_status_schema() -> None:
    v1, v1beta1 = (schema_of(CRDS[key])["properties"]["status"] for key in (V1, V1BETA1))
    assert v1 == v1beta1
    status = {path: node for path, node in field_map(CRDS[V1]).items() if path.startswith("st")}
    types = {path: (node["type"], node.get("format")) for path, node in status.items()}
    assert types == {
        "status": ("object", None),
        "status.observedGeneration": ("integer", "int64"),
        "status.phase": ("string", None),
        "status.releaseName": ("string", None),
        "status.releaseStatus": ("string", None),
        "status.revision": ("string", None),
        "status.lastAttemptedRevision": ("string", None),
        "status.rollbackCount": ("integer", "int64"),
        "status.lastFailedDigest": ("string", None),
        "status.lastFailedRevision": ("integer", "int64"),
        "status.lastTestedRevision": ("integer", "int64"),
        "status.lastHandledReconcileAt": ("string", None),
        "status.lastHandledForceAt": ("string", None),
        "status.lastReleaseRevision": ("integer", "int64"),
        "status.valuesChecksum": ("string", None),
        "status.lastAppliedDigest": ("string", None),
        "status.targetNamespace": ("string", None),
        "status.conditions": ("array", None),
        "status.conditions[]": ("object", None),
        "status.conditions[].type": ("string", None),
        "status.conditions[].status": ("string", None),
        "status.conditions[].reason": ("string", None),
        "status.conditions[].message": ("string", None),
        "status.conditions[].lastTransitionTime": ("string", "date-time"),
        "status.conditions[].lastUpdateTime": ("string", "date-time"),
        "status.conditions[].observedGeneration": ("integer", "int64"),
    }
    upstream_phases = UPSTREAM_V1["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "status"
    ]["properties"]["phase"]["enum"]
    assert status["status.phase"]["enum"] == [*upstream_phases, "Uninstalling"]
    conditions = status["status.conditions"]
    assert (conditions["x-kubernetes-list-type"], conditions["x-kubernetes-list-map-keys"]) == (
        "map",
        ["type"],
    )
    assert conditions["items"]["required"] == ["type", "status"]
    # Ready, Reconciling and Stalled are written beside helm-operator's condition types.
    assert "enum" not in status["status.conditions[].type"]
    assert status["status.conditions[].status"]["enum"] == ["True", "False", "Unknown"]


@both
def test_printer_columns(api_version: str) -> None:
    columns = version_of(CRDS[api_version])["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"], c.get("priority", 0)) for c in columns] == PRINTER_COLUMNS
    schema = field_map(CRDS[api_version])
    for column in columns:
        assert column["description"]
        assert column["type"] == ("date" if column["name"] == "Age" else "string")
        if column["jsonPath"].startswith(".metadata."):
            continue
        path = column["jsonPath"].split("[?", 1)[0].strip(".")
        if "[?" in column["jsonPath"]:
            path += "[]." + column["jsonPath"].rsplit(".", 1)[1]
        assert schema[path]["type"] == "string", column


@both
def test_features_not_built_yet_say_so(api_version: str) -> None:
    schema = field_map(CRDS[api_version])
    assert not [
        path
        for path, node in schema.items()
        if "not supported yet" in words(node.get("description", "")) and path != "spec.helmVersion"
    ]
    if api_version == V1:
        text = words(schema["spec.helmVersion"]["description"])
        assert "v2 (Tiller) is not supported yet: the release is reported Stalled" in text


def test_short_names_are_distinct_and_the_categories_shared() -> None:
    v1, v1beta1 = (CRDS[key]["spec"]["names"] for key in (V1, V1BETA1))
    assert v1["shortNames"] == ["hr", "hrs"]  # helm-operator 1.x's, which users script
    assert v1beta1["shortNames"] == ["fhr", "fhrs"]
    assert v1["categories"] == v1beta1["categories"] == ["flux", CATEGORY]
    # kubectl expands a category before it looks up resource names: a category spelled like
    # a resource would hijack `kubectl get <that name>`.
    names = {
        name
        for crd_names in (v1, v1beta1)
        for name in (
            crd_names["plural"],
            crd_names["singular"],
            crd_names["kind"].lower(),
            *crd_names["shortNames"],
        )
    }
    assert set(v1["categories"]) & names == set()


# --- against the server, with the real kubectl ----------------------------------------------


async def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Completed:
    return await run((kubectl_bin(), *args), env, stdin)


async def ok(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    return (await kubectl(env, *args, stdin=stdin)).check().stdout


def helmrelease(api_version: str, name: str, spec: Mapping[str, Any] | None = None) -> str:
    chart = {"repository": "https://charts.example.com/", "name": "podinfo", "version": "6.7.1"}
    body = {
        "apiVersion": api_version,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "default"},
        "spec": dict(spec) if spec is not None else {"chart": chart},
    }
    return json.dumps(body)


@pytest.mark.usefixtures("crds")
async def test_both_crds_are_accepted_and_served(helm_env: dict[str, str]) -> None:
    for api_version, crd in CRDS.items():
        stored = json.loads(await ok(helm_env, "get", "crd", crd["metadata"]["name"], "-o", "json"))
        conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
        assert conditions["Established"] == conditions["NamesAccepted"] == "True"
        assert stored["status"]["acceptedNames"]["shortNames"] == crd["spec"]["names"]["shortNames"]
        group = api_version.split("/")[0]
        listed = await ok(helm_env, "api-resources", f"--api-group={group}", "-o", "name")
        assert listed.split() == [f"helmreleases.{group}"]
    in_category = await ok(helm_env, "api-resources", f"--categories={CATEGORY}", "-o", "name")
    assert sorted(in_category.split()) == [
        "helmreleases.flux.weave.works",
        "helmreleases.helm.fluxcd.io",
    ]


@pytest.mark.usefixtures("crds")
async def test_kubectl_names_list_what_docs_kubectl_names_says(helm_env: dict[str, str]) -> None:
    await ok(helm_env, "apply", "-f", "-", stdin=helmrelease(V1, "current"))
    await ok(helm_env, "apply", "-f", "-", stdin=helmrelease(V1BETA1, "legacy"))
    current, legacy = "helmrelease.helm.fluxcd.io/current", "helmrelease.flux.weave.works/legacy"
    for name, expected in (
        ("hr", [current]),
        ("hrs", [current]),
        ("fhr", [legacy]),
        ("fhrs", [legacy]),
        ("helmreleases.helm.fluxcd.io", [current]),
        ("helmreleases.flux.weave.works", [legacy]),
        (CATEGORY, [legacy, current]),
        ("flux", [legacy, current]),
    ):
        listed = await ok(helm_env, "get", name, "-A", "-o", "name")
        assert sorted(listed.split()) == sorted(expected), name


@pytest.mark.usefixtures("crds")
async def test_kubectl_get_shows_the_printer_columns(helm_env: dict[str, str]) -> None:
    await ok(helm_env, "apply", "-f", "-", stdin=helmrelease(V1, "podinfo"))
    status = {
        "releaseName": "default-podinfo",
        "phase": "Succeeded",
        "releaseStatus": "deployed",
        "revision": "6.7.1",
        "lastReleaseRevision": 2,
        "conditions": [
            {"type": "Released", "status": "True", "reason": "UpgradeSucceeded", "message": "ok"},
            {"type": "Ready", "status": "True", "reason": "Deployed", "message": "Deployed"},
        ],
    }
    await ok(
        helm_env,
        *("patch", "hr", "podinfo", "--subresource=status", "--type=merge"),
        *("-p", json.dumps({"status": status})),
    )
    header, row = (await ok(helm_env, "get", "hr")).splitlines()
    assert header.split() == [
        "NAME",
        "RELEASE",
        "PHASE",
        "RELEASESTATUS",
        "MESSAGE",
        "READY",
        "AGE",
    ]
    cells = ["podinfo", "default-podinfo", "Succeeded", "deployed", "Deployed", "True"]
    assert row.split()[:6] == cells
    header, row = (await ok(helm_env, "get", "hr", "-o", "wide")).splitlines()
    assert header.split()[-3:] == ["AGE", "CHART", "VERSION"]
    assert row.split()[-2:] == ["podinfo", "6.7.1"]


@pytest.mark.usefixtures("crds")
async def test_kubectl_explain_documents_both_groups(helm_env: dict[str, str]) -> None:
    for api_version in (V1, V1BETA1):
        text = await ok(
            helm_env, "explain", "helmreleases.spec.chart", "--api-version", api_version
        )
        group, version = api_version.split("/")
        assert f"GROUP:      {group}" in text
        assert f"VERSION:    {version}" in text
        for field in ("repository", "name", "version", "chartPullSecret", "git", "secretRef"):
            assert f"  {field}\t<" in text, (api_version, field)
        assert "polled every --git-poll-interval" in words(text)
    helm_version = words(await ok(helm_env, "explain", "hr.spec.helmVersion"))
    assert "VERSION: v1" in helm_version
    assert "v2 (Tiller) is not supported yet" in helm_version
    missing = await kubectl(helm_env, "explain", "fhr.spec.helmVersion")
    assert missing.code != 0
    assert "helmVersion" in missing.stderr


@pytest.mark.usefixtures("crds")
@both
async def test_nothing_is_defaulted(helm_env: dict[str, str], api_version: str) -> None:
    applied = json.loads(helmrelease(api_version, "plain"))
    stored = json.loads(
        await ok(helm_env, "apply", "-f", "-", "-o", "json", stdin=json.dumps(applied))
    )
    assert stored["spec"] == applied["spec"]


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("chart", "complaint"),
    [
        pytest.param(
            {"git": "git@github.com:org/repo", "ref": "master", "path": "charts/podinfo"},
            None,
            id="git chart without name and version",
        ),
        pytest.param(
            {"repository": "https://charts.example.com/", "name": "podinfo", "version": "1.0.0"},
            None,
            id="repository chart",
        ),
        pytest.param(
            {"repository": "https://charts.example.com/", "name": "podinfo"},
            "spec.chart.version: Required value",
            id="repository chart without version",
        ),
        pytest.param(
            {"git": "git@github.com:org/repo", "ref": "master"},
            "spec.chart.path: Required value",
            id="git chart without path",
        ),
        pytest.param(
            {
                "git": "git@github.com:org/repo",
                "path": "charts/podinfo",
                "repository": "https://charts.example.com/",
                "name": "podinfo",
                "version": "1.0.0",
            },
            "oneOf",
            id="both sources",
        ),
    ],
)
async def test_v1beta1_charts_come_from_git_or_from_a_repository(
    helm_env: dict[str, str], chart: Doc, complaint: str | None
) -> None:
    done = await kubectl(
        helm_env, "apply", "-f", "-", stdin=helmrelease(V1BETA1, "one", {"chart": chart})
    )
    if complaint is None:
        done.check()
    else:
        assert done.code != 0
        assert 'The HelmRelease "one" is invalid' in done.stderr
        assert complaint in done.stderr
    # helm.fluxcd.io/v1 left these rules to the operator, as helm-operator 1.x's CRD did.
    await ok(helm_env, "apply", "-f", "-", stdin=helmrelease(V1, "one", {"chart": chart}))


@pytest.mark.usefixtures("crds")
@both
@pytest.mark.parametrize(
    ("repository", "admitted"),
    [
        ("https://charts.example.com/", True),
        ("http://127.0.0.1:8879/", True),
        ("oci://registry.example.com/charts", True),
        ("s3://bucket-name/charts", True),  # a Helm downloader plugin's scheme (chart-sources.md)
        ("charts.example.com", False),
        ("", False),
    ],
)
async def test_repository_urls(
    helm_env: dict[str, str], api_version: str, repository: str, admitted: bool
) -> None:
    chart = {"repository": repository, "name": "podinfo", "version": "1.0.0"}
    done = await kubectl(
        helm_env, "apply", "-f", "-", stdin=helmrelease(api_version, "repo", {"chart": chart})
    )
    if admitted:
        done.check()
    else:
        assert done.code != 0
        assert "spec.chart.repository in body should match" in done.stderr


async def test_an_integer_revision_left_by_an_older_crd_is_replaced_by_a_merge_patch(
    kubeconfig: Path, helm_env: dict[str, str]
) -> None:
    # Before helm-operator's string revision, our v1beta1 status held helm's revision number
    # there. The operator's merge patch that writes the string (and the number under
    # lastReleaseRevision) must go through on an object that still holds the integer.
    older = copy.deepcopy(CRDS[V1BETA1])
    schema_of(older)["properties"]["status"]["properties"]["revision"] = {
        "type": "integer",
        "format": "int64",
        "description": "Helm revision number of the current release.",
    }
    await ok(
        helm_env,
        *("apply", "--server-side", "--field-manager=testkit", "--force-conflicts", "-f", "-"),
        stdin=json.dumps(older),
    )
    await ok(helm_env, "wait", "--for=condition=Established", f"crd/{older['metadata']['name']}")
    for name in ("replaced", "removed"):
        await ok(helm_env, "apply", "-f", "-", stdin=helmrelease(V1BETA1, name))
        await ok(
            helm_env,
            *("patch", "helmreleases.flux.weave.works", name, "--subresource=status"),
            *("--type=merge", "-p", json.dumps({"status": {"revision": 3}})),
        )
    await register_crds(kubeconfig)  # the CRD of today: status.revision is a string
    # Reading never validates: the operator still sees the object, integer and all.
    listed = json.loads(await ok(helm_env, "get", "fhr", "-o", "json"))
    assert [item["status"]["revision"] for item in listed["items"]] == [3, 3]

    patch = {"status": {"revision": "6.7.1", "lastReleaseRevision": 3, "phase": "Succeeded"}}
    await ok(
        helm_env,
        *("patch", "fhr", "replaced", "--subresource=status", "--type=merge"),
        *("-p", json.dumps(patch)),
    )
    await ok(
        helm_env,
        *("patch", "fhr", "removed", "--subresource=status", "--type=merge"),
        *("-p", json.dumps({"status": {"revision": None, "lastReleaseRevision": 3}})),
    )
    replaced = json.loads(await ok(helm_env, "get", "fhr", "replaced", "-o", "json"))
    assert replaced["status"] == {
        "revision": "6.7.1",
        "lastReleaseRevision": 3,
        "phase": "Succeeded",
    }
    removed = json.loads(await ok(helm_env, "get", "fhr", "removed", "-o", "json"))
    assert removed["status"] == {"lastReleaseRevision": 3}
    # Once repaired, writes to the object itself (a finalizer) go through as well.
    finalizer = {"metadata": {"finalizers": ["helmreleases.flux.weave.works/finalizer"]}}
    for name in ("replaced", "removed"):
        await ok(helm_env, "patch", "fhr", name, "--type=merge", "-p", json.dumps(finalizer))
