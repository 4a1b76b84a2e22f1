"""The HelmRelease CRD's schema through the real kubectl and the in-memory API server.

kubectl applies the project's flux.weave.works/v1beta1 CRD and a valid HelmRelease (which
comes back as written: the CRD declares no defaults), a custom resource of a small CRD that
does declare defaults (which comes back pruned and defaulted), and gets the server's 422
messages, naming the fields, for invalid HelmReleases and for a CRD whose schema is not
structural.
"""

from __future__ import annotations

import yaml
from apitesting import Run

from testkit import CRDS_DIR

CRD_FILE = CRDS_DIR / "helmreleases.flux.weave.works.yaml"


def helm_release(name: str, spec: str) -> str:
    return f"""
apiVersion: flux.weave.works/v1beta1
kind: HelmRelease
metadata: {{name: {name}}}
spec: {spec}
"""


VALID_SPEC = (
    "{releaseName: rabbitmq, chart: {repository: 'https://charts.example.com/',"
    " name: rabbitmq, version: 3.3.6}, values: {replicas: 1}}"
)


async def install_crd(run: Run) -> None:
    (await run("kubectl", "apply", "-f", str(CRD_FILE))).check()
    (
        await run(
            "kubectl",
            "wait",
            "--for=condition=Established",
            "crd/helmreleases.flux.weave.works",
            "--timeout=10s",
        )
    ).check()


async def test_valid_helm_release_is_stored_as_written(run: Run) -> None:
    await install_crd(run)
    (await run("kubectl", "apply", "-f", "-", stdin=helm_release("rabbitmq", VALID_SPEC))).check()
    stored = (await run("kubectl", "get", "helmrelease", "rabbitmq", "-o", "json")).check().json()
    assert stored["spec"] == yaml.safe_load(VALID_SPEC)
    assert stored["spec"]["values"] == {"replicas": 1}
    assert stored["spec"]["chart"]["version"] == "3.3.6"


DEFAULTING_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              timeout: {type: integer, minimum: 1, default: 300}
              mode: {type: string, enum: [fast, safe], default: safe}
              install:
                type: object
                default: {}
                properties:
                  retries: {type: integer, default: 3}
"""


async def test_a_custom_resource_is_stored_pruned_and_defaulted(run: Run) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=DEFAULTING_CRD)).check()
    (
        await run(
            "kubectl",
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=10s",
        )
    ).check()
    widget = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
        "spec: {timeout: 60, size: 3}\n"
    )
    strict = await run("kubectl", "apply", "-f", "-", stdin=widget)
    assert strict.code != 0
    assert 'unknown field "spec.size"' in strict.stderr
    (await run("kubectl", "apply", "--validate=false", "-f", "-", stdin=widget)).check()
    stored = (await run("kubectl", "get", "widget", "w", "-o", "json")).check().json()
    assert stored["spec"] == {"timeout": 60, "mode": "safe", "install": {"retries": 3}}


async def test_invalid_helm_releases_are_rejected_naming_the_fields(run: Run) -> None:
    await install_crd(run)
    missing_name = helm_release(
        "no-name", "{chart: {repository: 'https://charts.example.com/', version: 3.3.6}}"
    )
    rejected = await run("kubectl", "apply", "-f", "-", stdin=missing_name)
    assert rejected.code != 0
    # The name is required only within the chart's oneOf (repository, name and version, or
    # git and path): the server names the chart and the oneOf none of whose branches holds.
    assert (
        '"spec.chart" must validate one and only one schema (oneOf). Found none valid'
        in rejected.stderr
    )
    missing_path = helm_release("no-path", "{chart: {git: 'git@github.com:org/repo'}}")
    rejected = await run("kubectl", "apply", "-f", "-", stdin=missing_path)
    assert rejected.code != 0
    assert "spec.chart.path: Required value" in rejected.stderr

    bad_name = VALID_SPEC.replace("releaseName: rabbitmq", "releaseName: Bad_Name")
    rejected = await run("kubectl", "apply", "-f", "-", stdin=helm_release("bad", bad_name))
    assert rejected.code != 0
    assert (
        'spec.releaseName: Invalid value: "Bad_Name": spec.releaseName in body should match'
        " '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'" in rejected.stderr
    )
    for name in ("bad", "no-name", "no-path"):
        missing = await run("kubectl", "get", "helmrelease", name)
        assert missing.code != 0
        assert f'helmreleases.flux.weave.works "{name}" not found' in missing.stderr


NON_STRUCTURAL_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            properties:
              size: {type: integer}
"""


async def test_non_structural_crd_is_rejected(run: Run) -> None:
    rejected = await run("kubectl", "apply", "-f", "-", stdin=NON_STRUCTURAL_CRD)
    assert rejected.code != 0
    assert "properties[spec].type: Required value" in rejected.stderr
