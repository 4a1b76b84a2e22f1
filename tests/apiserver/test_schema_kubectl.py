"""The HelmRelease CRD's schema through the real kubectl and the in-memory API server.

kubectl applies the project's CRD and a valid HelmRelease (which comes back pruned and
defaulted), and gets the server's 422 messages, naming the fields, for invalid HelmReleases
and for a CRD whose schema is not structural.
"""

from __future__ import annotations

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


async def test_valid_helm_release_is_stored_with_defaults(run: Run) -> None:
    await install_crd(run)
    (await run("kubectl", "apply", "-f", "-", stdin=helm_release("rabbitmq", VALID_SPEC))).check()
    stored = (await run("kubectl", "get", "helmrelease", "rabbitmq", "-o", "json")).check().json()
    assert stored["spec"]["values"] == {"replicas": 1}
    assert stored["spec"]["chart"]["version"] == "3.3.6"
    assert stored["spec"]["timeout"] == 300


async def test_invalid_helm_releases_are_rejected_naming_the_fields(run: Run) -> None:
    await install_crd(run)
    missing_name = helm_release(
        "no-name", "{chart: {repository: 'https://charts.example.com/', version: 3.3.6}}"
    )
    rejected = await run("kubectl", "apply", "-f", "-", stdin=missing_name)
    assert rejected.code != 0
    assert "spec.chart.name: Required value" in rejected.stderr

    bad_name = VALID_SPEC.replace("releaseName: rabbitmq", "releaseName: Bad_Name")
    rejected = await run("kubectl", "apply", "-f", "-", stdin=helm_release("bad", bad_name))
    assert rejected.code != 0
    assert (
        'spec.releaseName: Invalid value: "Bad_Name": spec.releaseName in body should match'
        " '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'" in rejected.stderr
    )
    missing = await run("kubectl", "get", "helmrelease", "bad", "no-name")
    assert missing.code != 0


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
