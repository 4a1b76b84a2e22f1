"""The manifests and examples applied with the real kubectl to the in-memory API server.

Covers: `kubectl apply -k` of the default deployment, of the namespaced variant and of the
monitoring kustomization (which needs the Prometheus Operator CRDs first); the examples are
admitted and get the CRD's defaults; invalid HelmReleases are rejected with kubectl naming
the offending field; a status rendered by the operator survives the status schema intact.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from apiserver import ApiServer
from controller import status
from testkit import ROOT, Completed, pinned, run

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
    crd = await get_json(kubectl, "crd", "helmreleases.flux.weave.works")
    established = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
    assert established[0]["status"] == "True"
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
    assert (
        "customresourcedefinition.apiextensions.k8s.io/helmreleases.flux.weave.works unchanged"
        in again
    )


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


async def test_the_examples_are_admitted_with_the_crd_defaults(kubectl: Kubectl) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    await ok(kubectl, "apply", "-f", "examples/")
    items = {
        item["metadata"]["name"]: item["spec"]
        for item in (await get_json(kubectl, "-n", "default", "helmreleases"))["items"]
    }
    assert set(items) == {"rabbit", "podinfo", "podinfo-tilde", "sealed-secrets"}
    assert (items["rabbit"]["timeout"], items["rabbit"]["maxHistory"]) == (300, 10)
    assert (items["podinfo-tilde"]["timeout"], items["podinfo-tilde"]["maxHistory"]) == (120, 5)
    assert items["rabbit"]["values"]["ui"]["message"] == "Hello from the rabbit HelmRelease"
    short = await get_json(kubectl, "-n", "default", "hr")
    assert len(short["items"]) == len(items)


def helmrelease(spec: str) -> str:
    return (
        "apiVersion: flux.weave.works/v1beta1\nkind: HelmRelease\n"
        f"metadata: {{name: invalid, namespace: default}}\nspec:\n{spec}"
    )


VALID_CHART = '  chart: {repository: "https://charts.example.com/", name: app, version: "1.0.0"}\n'


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        pytest.param(
            '  chart: {repository: "https://charts.example.com/", version: "1.0.0"}\n',
            "spec.chart.name: Required value",
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
            '  chart: {repository: "ftp://x", name: app, version: "1.0.0"}\n',
            "spec.chart.repository in body should match '^https?://'",
            id="repository not http",
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
    listed = await get_json(kubectl, "-n", "default", "helmreleases")
    assert listed["items"] == []


async def test_a_status_rendered_by_the_operator_survives_the_schema(kubectl: Kubectl) -> None:
    await ok(kubectl, "apply", "-f", "manifests/crds/")
    await ok(kubectl, "apply", "-f", "examples/rabbit.yaml")
    update = status.StatusUpdate(
        phase=status.PHASE_SUCCEEDED,
        conditions=(
            status.Condition(status.CHART_FETCHED, status.TRUE, "ChartFetched", "podinfo 6.7.1"),
            status.Condition(status.RELEASED, status.TRUE, "InstallSucceeded", "revision 1"),
            status.Condition(status.DEPLOYED, status.TRUE, "Deployed", "deployed"),
        ),
        fields={
            "releaseName": "rabbitmq",
            "releaseStatus": "deployed",
            "revision": 1,
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
        "helmrelease",
        "rabbit",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": rendered}),
    )
    stored = await get_json(kubectl, "-n", "default", "helmrelease", "rabbit")
    assert stored["status"] == rendered
    assert status.ready_of(stored["status"]) == status.TRUE
