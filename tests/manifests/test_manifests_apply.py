"""The manifests and examples applied with the real kubectl to the in-memory API server.

Covers: `kubectl apply -k` of the default deployment (both HelmRelease CRDs established),
of the namespaced variant and of the monitoring kustomization (which needs the Prometheus
Operator CRDs first); the examples of both APIs are admitted and stored as written (the
CRDs declare no defaults: the operator applies its own), listed by their short names and
together by the helmreleases-all category; invalid HelmReleases of either API are rejected
with kubectl naming the offending field; a status rendered by the operator survives the
status schema of either API intact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import yaml

from apiserver import ApiServer
from controller import status
from controller.api import SERVED, ReleaseOptions, ReleaseSpec, parse
from testkit import CRDS_DIR, EXAMPLES_DIR, ROOT, Completed, pinned, run

# Just enough of the Prometheus Operator's CRDs for kubectl to create the objects.
PROMETHEUS_OPERATOR_CRDS = "\n---\n".join(
    f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.monitoring.coreos.com}}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {plural[:-1]}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
    for kind, plural in (
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    )
)


Kubectl = Callable[..., Awaitable[Completed]]

CRD_NAMES = [f"helmreleases.{served.group}" for served in SERVED]
V1 = "helm.fluxcd.io/v1"
V1BETA1 = "flux.weave.works/v1beta1"
CATEGORY = "helmreleases-all"  # lists the HelmReleases of both groups (docs/kubectl-names.md)


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    async with ApiServer() as api:
        yield api


@pytest.fixture
def kubectl(helm_env: dict[str, str]) -> Kubectl:
    """The real kubectl against the server, with its own HOME and discovery cache."""

    async def run_kubectl(*args: str, stdin: str | None = None) -> Completed:
        return await run((str(pinned("kubectl")), *args), helm_env, stdin, cwd=ROOT)

    return run_kubectl


async def ok(kubectl: Kubectl, *args: str, stdin: str | None = None) -> str:
    return (await kubectl(*args, stdin=stdin)).check().stdout


async def get_json(kubectl: Kubectl, *args: str) -> Any:
    return json.loads(await ok(kubectl, "get", *args, "-o", "json"))


async def test_the_default_deployment_applies(kubectl: Kubectl) -> None:
    out = await ok(kubectl, "apply", "-k", "manifests/")
    assert "deployment.apps/helmrelease-operator created" in out
    assert sorted(path.name for path in CRDS_DIR.glob("*.yaml")) == sorted(
        f"{name}.yaml" for name in CRD_NAMES
    )
    for name in CRD_NAMES:
        crd = await get_json(kubectl, "crd", name)
        established = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
        assert established[0]["status"] == "True", name
    deployment = await get_json(kubectl, "-n", "helmrelease-operator", "deployment")
    assert [item["metadata"]["name"] for item in deployment["items"]] == ["helmrelease-operator"]
    bindings = await get_json(kubectl, "clusterrolebinding", "helmrelease-operator-helm")
    assert bindings["roleRef"]["name"] == "helmrelease-operator-helm"


async def test_a_second_apply_leaves_the_deployment_and_crd_alone(kubectl: Kubectl) -> None:
    # An apply that reconfigures these on every run would restart the operator (or rewrite
    # the CRD) each time a GitOps tool syncs. (PodDisruptionBudgets always show as
    # "configured": kubectl re-sends their selector, which has the "replace" patch strategy.)
    await ok(kubectl, "apply", "-k", "manifests/")
    again = (await ok(kubectl, "apply", "-k", "manifests/")).splitlines()
    assert "deployment.apps/helmrelease-operator unchanged" in again
    for name in CRD_NAMES:
        assert f"customresourcedefinition.apiextensions.k8s.io/{name} unchanged" in again


async def test_the_namespaced_variant_applies(kubectl: Kubectl) -> None:
    await ok(kubectl, "create", "namespace", "team-a")
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    await ok(kubectl, "apply", "-k", "manifests/namespaced/")
    role = await get_json(kubectl, "-n", "team-a", "role", "helmrelease-operator")
    assert role["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    assert (await get_json(kubectl, "clusterrolebinding"))["items"] == []


async def test_monitoring_applies_once_the_prometheus_operator_crds_exist(
    kubectl: Kubectl,
) -> None:
    await ok(kubectl, "apply", "-k", "manifests/")
    without = await kubectl("apply", "-k", "manifests/monitoring/")
    assert without.code != 0
    await ok(kubectl, "apply", "-f", "-", stdin=PROMETHEUS_OPERATOR_CRDS)
    out = await ok(kubectl, "apply", "-k", "manifests/monitoring/")
    assert "servicemonitor.monitoring.coreos.com/helmrelease-operator created" in out
    assert "prometheusrule.monitoring.coreos.com/helmrelease-operator created" in out
    dashboard = await get_json(
        kubectl, "-n", "helmrelease-operator", "configmap", "helmrelease-operator-dashboard"
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def example_documents() -> dict[tuple[str, str], Any]:
    """The HelmReleases of examples/ by (apiVersion, name)."""
    return {
        (doc["apiVersion"], doc["metadata"]["name"]): doc
        for path in sorted(EXAMPLES_DIR.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None and doc["kind"] == "HelmRelease"
    }


async def test_the_examples_are_admitted_as_written(kubectl: Kubectl) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    await ok(kubectl, "apply", "-f", "examples/")
    examples = example_documents()
    assert {api_version for api_version, _ in examples} == {V1, V1BETA1}
    stored = {
        (item["apiVersion"], item["metadata"]["name"]): item
        for item in (await get_json(kubectl, "-n", "default", CATEGORY))["items"]
    }
    assert stored.keys() == examples.keys()
    for key, example in examples.items():
        # Nothing defaulted nor pruned: the CRDs declare no defaults.
        assert stored[key]["spec"] == example["spec"], key
    rabbit = stored[(V1BETA1, "rabbit")]["spec"]
    assert "timeout" not in rabbit
    assert "maxHistory" not in rabbit
    assert rabbit["values"]["ui"]["message"] == "Hello from the rabbit HelmRelease"
    # The operator applies the defaults to what the API stored, and keeps what is set.
    defaults = ReleaseOptions()
    options: dict[str, tuple[float, int]] = {}
    for key, item in stored.items():
        spec = parse(item)
        assert isinstance(spec, ReleaseSpec), (key, spec)
        options[key[1]] = (spec.options.timeout, spec.options.max_history)
    assert options["rabbit"] == (defaults.timeout, defaults.max_history)
    assert options["podinfo-tilde"] == (120.0, 5)
    for short_name, api_version in (("hr", V1), ("fhr", V1BETA1)):
        listed = await get_json(kubectl, "-n", "default", short_name)
        names = {item["metadata"]["name"] for item in listed["items"]}
        assert names == {name for version, name in examples if version == api_version}


def helmrelease(spec: str, api_version: str = V1BETA1) -> str:
    return (
        f"apiVersion: {api_version}\nkind: HelmRelease\n"
        f"metadata: {{name: invalid, namespace: default}}\nspec:\n{spec}"
    )


VALID_CHART = '  chart: {repository: "https://charts.example.com/", name: app, version: "1.0.0"}\n'


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        pytest.param(
            '  chart: {repository: "https://charts.example.com/", version: "1.0.0"}\n',
            '"spec.chart" must validate one and only one schema (oneOf). Found none valid',
            id="chart name missing",
        ),
        pytest.param(
            "  releaseName: Bad_Name\n" + VALID_CHART,
            'spec.releaseName: Invalid value: "Bad_Name"',
            id="release name not a DNS label",
        ),
        pytest.param(
            "  timeout: abc\n" + VALID_CHART,
            "spec.timeout in body must be of type integer",
            id="timeout not a number",
        ),
        pytest.param(
            '  chart: {repository: "charts.example.com", name: app, version: "1.0.0"}\n',
            "spec.chart.repository in body should match '^[A-Za-z][A-Za-z0-9+.-]*://'",
            id="repository without a scheme",
        ),
        pytest.param(
            "  timeout: 0\n" + VALID_CHART,
            "spec.timeout in body should be greater than or equal to 1",
            id="timeout zero",
        ),
        pytest.param(
            "  targetNamespace: Other_NS\n" + VALID_CHART,
            'spec.targetNamespace: Invalid value: "Other_NS"',
            id="target namespace not a DNS label",
        ),
        pytest.param("  values: {}\n", "spec.chart: Required value", id="chart missing"),
        pytest.param(
            "  valuesFrom: [{configMapKeyRef: {name: a}, secretKeyRef: {name: b}}]\n" + VALID_CHART,
            '"spec.valuesFrom[0]" must validate one and only one schema (oneOf).'
            " Found 2 valid alternatives",
            id="values source with two references",
        ),
    ],
)
async def test_invalid_helmreleases_are_rejected_naming_the_field(
    kubectl: Kubectl, spec: str, complaint: str
) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    done = await kubectl("apply", "-f", "-", stdin=helmrelease(spec))
    assert done.code != 0
    assert 'The HelmRelease "invalid" is invalid' in done.stderr
    assert complaint in done.stderr
    listed = await get_json(kubectl, "-n", "default", CATEGORY)
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        pytest.param(
            "  helmVersion: v4\n" + VALID_CHART,
            'spec.helmVersion: Unsupported value: "v4": supported values: "v2", "v3"',
            id="helm version unknown",
        ),
        pytest.param(
            "  releaseName: Bad_Name\n" + VALID_CHART,
            'spec.releaseName: Invalid value: "Bad_Name"',
            id="release name not a helm release name",
        ),
        pytest.param(
            "  timeout: 86401\n" + VALID_CHART,
            "spec.timeout in body should be less than or equal to 86400",
            id="timeout over a day",
        ),
        pytest.param(
            '  chart: {repository: "/charts", name: app, version: "1.0.0"}\n',
            "spec.chart.repository in body should match '^[A-Za-z][A-Za-z0-9+.-]*://'",
            id="repository without a scheme",
        ),
        pytest.param("  values: {}\n", "spec.chart: Required value", id="chart missing"),
    ],
)
async def test_invalid_helm_fluxcd_io_helmreleases_are_rejected_naming_the_field(
    kubectl: Kubectl, spec: str, complaint: str
) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    done = await kubectl("apply", "-f", "-", stdin=helmrelease(spec, V1))
    assert done.code != 0
    assert 'The HelmRelease "invalid" is invalid' in done.stderr
    assert complaint in done.stderr
    listed = await get_json(kubectl, "-n", "default", CATEGORY)
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("example", "resource", "name"),
    [
        ("rabbit.yaml", "helmreleases.flux.weave.works", "rabbit"),
        ("podinfo-v1.yaml", "helmreleases.helm.fluxcd.io", "podinfo-v1"),
    ],
)
async def test_a_status_rendered_by_the_operator_survives_the_schema(
    kubectl: Kubectl, example: str, resource: str, name: str
) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    await ok(kubectl, "apply", "-f", f"examples/{example}")
    update = status.StatusUpdate(
        phase=status.PHASE_SUCCEEDED,
        conditions=(
            status.Condition(status.CHART_FETCHED, status.TRUE, "ChartFetched", "podinfo 6.7.1"),
            status.Condition(status.RELEASED, status.TRUE, "Succeeded", "revision 1"),
            status.Condition(status.DEPLOYED, status.TRUE, "Deployed", "deployed"),
        ),
        fields={
            "releaseName": "rabbitmq",
            "releaseStatus": "deployed",
            "revision": "6.7.1",
            "lastReleaseRevision": 1,
            "lastAttemptedRevision": "6.7.1",
            "valuesChecksum": "0" * 64,
            "lastAppliedDigest": "1" * 64,
            "targetNamespace": "default",
        },
    )
    rendered = status.render_status(None, update, generation=1, now="2026-01-02T03:04:05Z")
    await ok(
        kubectl,
        "-n",
        "default",
        "patch",
        resource,
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": rendered}),
    )
    stored = await get_json(kubectl, "-n", "default", resource, name)
    assert stored["status"] == rendered
    assert status.ready_of(stored["status"]) == status.TRUE
