"""Deployment manifests, CRD, monitoring, examples, image and e2e script, checked offline.

Covers: every YAML/JSON file parses; every kustomization lists files that exist and
renders with the real kubectl's kustomize; the CRD's names, structural schema (a type and
a description on every field), printer columns and defaults agree with the operator;
whatever the CRD admits the operator parses (hypothesis); the Deployment's arguments are
valid for the real command line and its probes, security context, writable directories
and grace periods fit together; the Service and ServiceMonitor select the pods; RBAC
grants what the operator needs (and the namespaced variant nothing cluster-wide); alerts
and dashboard use only metric names the operator exports; the examples parse; the
Dockerfile pins the same helm as the project's tools; the e2e script fails clearly
without Docker or kind.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

import controller.metrics  # noqa: F401  (registers every metric of the operator)
from controller import status
from controller.__main__ import build_settings, make_parser
from controller.api import ReleaseOptions, ReleaseSpec, parse
from controller.settings import LeaderSettings, Settings
from testkit import CRDS_DIR, EXAMPLES_DIR, ROOT, kubectl_bin, pinned

MANIFESTS = ROOT / "manifests"
EXAMPLES = EXAMPLES_DIR
CRD_FILE = CRDS_DIR / "helmreleases.flux.weave.works.yaml"
DASHBOARD_FILE = MANIFESTS / "monitoring" / "grafana-dashboard.json"
KUBECTL = kubectl_bin()
HELM = pinned("helm")  # the pinned helm the image must match
OPERATOR_NAMESPACE = "helmrelease-operator"
YAML_FILES = sorted([*MANIFESTS.rglob("*.yaml"), *EXAMPLES.rglob("*.yaml")])
KUSTOMIZATIONS = sorted(path.parent for path in MANIFESTS.rglob("kustomization.yaml"))
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))

Doc = dict[str, Any]


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


def crd() -> Doc:
    return one(load_docs(CRD_FILE), "CustomResourceDefinition")


def crd_version() -> Doc:
    versions: list[Doc] = crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def crd_schema() -> Doc:
    schema: Doc = crd_version()["schema"]["openAPIV3Schema"]
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


# --- the CRD ------------------------------------------------------------------------------


def test_crd_names_scope_and_version() -> None:
    spec = crd()["spec"]
    assert crd()["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd()["metadata"]["name"] == "helmreleases.flux.weave.works"
    assert spec["group"] == "flux.weave.works"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "HelmRelease",
        "listKind": "HelmReleaseList",
        "plural": "helmreleases",
        "singular": "helmrelease",
        "shortNames": ["hr", "hrs"],
        "categories": ["flux"],
    }
    version = crd_version()
    assert (version["name"], version["served"], version["storage"]) == ("v1beta1", True, True)
    assert version["subresources"] == {"status": {}}


def schema_nodes(node: Doc, path: str) -> Iterator[tuple[str, Doc]]:
    """Every schema node below ``node`` (properties and array items), with its path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from schema_nodes(node["items"], f"{path}[]")


def test_every_crd_field_has_a_type_and_a_description() -> None:
    nodes = list(schema_nodes(crd_schema(), "<root>"))
    assert len(nodes) > 30  # the walk reached the nested fields
    assert [path for path, node in nodes if not node.get("description", "").strip()] == []
    assert [path for path, node in nodes if "type" not in node] == []


def schema_at(path: str) -> Doc:
    """The schema node of a printer column's simple JSONPath (filters are skipped)."""
    node = crd_schema()
    for part in re.sub(r"\[\?\(.*?\)\]", "", path).strip(".").split("."):
        if node.get("type") == "array":
            node = node["items"]
        properties = node.get("properties", {})
        assert part in properties, f"{path}: no field {part!r}"
        node = properties[part]
    return node


def test_printer_columns_point_at_fields_of_the_schema() -> None:
    columns = {c["name"]: c for c in crd_version()["additionalPrinterColumns"]}
    assert list(columns)[:3] == ["Release", "Chart", "Version"]
    assert {"Status", "Ready", "Age"} <= set(columns)
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert (columns["Age"]["type"], columns["Age"]["jsonPath"]) == (
        "date",
        ".metadata.creationTimestamp",
    )
    for column in columns.values():
        assert column["description"]
        if column["jsonPath"].startswith(".metadata."):
            continue
        node = schema_at(column["jsonPath"])
        assert node["type"] in ("string", "integer"), column


def test_spec_constraints() -> None:
    spec = crd_schema()["properties"]["spec"]
    fields = spec["properties"]
    chart = fields["chart"]
    assert spec["required"] == ["chart"]
    assert chart["required"] == ["repository", "name", "version"]
    assert chart["properties"]["repository"]["pattern"] == "^https?://"
    assert chart["properties"]["name"]["minLength"] == 1
    assert chart["properties"]["chartPullSecret"]["required"] == ["name"]
    assert fields["releaseName"]["maxLength"] == 53
    assert fields["targetNamespace"]["maxLength"] == 63
    assert fields["values"]["x-kubernetes-preserve-unknown-fields"] is True
    assert fields["timeout"] == fields["timeout"] | {"type": "integer", "minimum": 1}
    assert fields["maxHistory"] == fields["maxHistory"] | {"type": "integer", "minimum": 0}
    for flag in ("wait", "resetValues", "forceUpgrade", "skipCRDs"):
        assert fields[flag]["type"] == "boolean"


def test_crd_defaults_are_the_operators_defaults() -> None:
    fields = crd_schema()["properties"]["spec"]["properties"]
    assert fields["timeout"]["default"] == ReleaseOptions().timeout
    assert fields["maxHistory"]["default"] == ReleaseOptions().max_history


def test_status_schema_holds_what_the_operator_writes() -> None:
    fields = crd_schema()["properties"]["status"]["properties"]
    assert {
        "observedGeneration",
        "phase",
        "releaseName",
        "releaseStatus",
        "revision",
        "lastAttemptedRevision",
        "valuesChecksum",
        "lastAppliedDigest",
        "targetNamespace",
        "conditions",
    } <= set(fields)
    operator_phases = {value for name, value in vars(status).items() if name.startswith("PHASE_")}
    assert operator_phases
    assert operator_phases <= set(fields["phase"]["enum"])
    conditions = fields["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(conditions["x-kubernetes-list-map-keys"]) <= set(item["required"])
    assert item["properties"]["status"]["enum"] == [status.TRUE, status.FALSE, status.UNKNOWN]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


def go_regex(pattern: str) -> re.Pattern[str]:
    """A CRD pattern (RE2, anchored with ^ and $) as a Python regex for fullmatch."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


SPEC_FIELDS = crd_schema()["properties"]["spec"]["properties"]


def admitted_names(field: str) -> st.SearchStrategy[str]:
    schema = SPEC_FIELDS[field]
    return st.from_regex(go_regex(schema["pattern"]), fullmatch=True).filter(
        lambda name: len(name) <= schema["maxLength"]
    )


@settings(max_examples=200, deadline=None)
@given(
    release_name=admitted_names("releaseName"),
    target_namespace=admitted_names("targetNamespace"),
    timeout=st.integers(
        min_value=SPEC_FIELDS["timeout"]["minimum"], max_value=SPEC_FIELDS["timeout"]["maximum"]
    ),
    max_history=st.integers(min_value=SPEC_FIELDS["maxHistory"]["minimum"], max_value=10**6),
)
def test_whatever_the_crd_admits_the_operator_parses(
    release_name: str, target_namespace: str, timeout: int, max_history: int
) -> None:
    spec = parse(
        {
            "apiVersion": "flux.weave.works/v1beta1",
            "kind": "HelmRelease",
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
        ("flux.weave.works", "helmreleases", verb)
        for verb in ("get", "list", "watch", "update", "patch")
    ],
    ("flux.weave.works", "helmreleases/status", "patch"),
    ("flux.weave.works", "helmreleases/finalizers", "update"),
    ("", "events", "create"),
    ("events.k8s.io", "events", "create"),
    *[
        ("", resource, verb)
        for resource in ("secrets", "configmaps")
        for verb in ("get", "list", "watch")
    ],
    ("", "secrets", "update"),
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
    """Names of every series the operator's metrics export, read from the registry."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("helmrelease_")
        for suffix in SERIES_SUFFIXES[family.type]
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
        assert doc["apiVersion"] == "flux.weave.works/v1beta1"
        spec = parse(doc)
        assert isinstance(spec, ReleaseSpec), spec
        versions = {entry["version"] for entry in index["entries"][spec.chart.name]}
        assert versions
        if re.fullmatch(r"[\d.]+", spec.chart.version):
            assert spec.chart.version in versions


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


def test_the_image_pins_the_projects_helm_with_checksums() -> None:
    done = subprocess.run(
        [HELM, "version", "--short"], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.startswith(f"v{dockerfile_arg('HELM_VERSION')}+")
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", dockerfile_arg(f"HELM_SHA256_{arch}"))
    text = (ROOT / "Dockerfile").read_text()
    assert "sha256sum --check" in text
    assert 'ENTRYPOINT ["helmrelease-operator"]' in text
    assert 'CMD ["run"]' in text
    assert dockerfile_arg("PYTHON_IMAGE") == "python:3.12-slim"


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
