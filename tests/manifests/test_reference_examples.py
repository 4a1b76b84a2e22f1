"""Every HelmRelease example of helm-operator's guide, applied with the real kubectl.

Covers: each example (tests/data/reference-examples/, see its README.md) is admitted in
helm.fluxcd.io/v1 with client-side and with server-side apply, under kubectl's default
Strict field validation, and stored as written (nothing pruned, nothing defaulted; kubectl
leaves out null map entries);
rewritten to flux.weave.works/v1beta1 it is admitted the same way when that schema declares
all its fields, and otherwise rejected by both kinds of apply naming the field; the only
field of the examples that v1beta1 lacks is helmVersion (v1 only). The operator does not
run: this is about what the API admits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit import CRDS_DIR, ROOT, Completed, kubectl_bin, run

Doc = dict[str, Any]

EXAMPLES_DIR = ROOT / "tests" / "data" / "reference-examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
MINIMAL = EXAMPLES_DIR / "introduction-01-podinfo.yaml"
WHOLE = {MINIMAL.name, "release-configuration-02-redis.yaml"}
V1 = "helm.fluxcd.io/v1"
V1BETA1 = "flux.weave.works/v1beta1"
V1BETA1_CRD = CRDS_DIR / "helmreleases.flux.weave.works.yaml"
APPLY_MODES = {"client-side": (), "server-side": ("--server-side",)}

pytestmark = pytest.mark.usefixtures("crds")


def documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def example(path: Path) -> Doc:
    """The HelmRelease of an example file: itself when whole, else the guide's minimal
    HelmRelease with the part's spec fields in place of its own, named after the file."""
    (doc,) = documents(path)
    if path.name in WHOLE:
        assert doc["kind"] == "HelmRelease"
        return doc
    assert list(doc) == ["spec"], path
    (minimal,) = documents(MINIMAL)
    return {
        **minimal,
        "metadata": {**minimal["metadata"], "name": path.stem},
        "spec": {**minimal["spec"], **doc["spec"]},
    }


def v1beta1_schema() -> Doc:
    (crd,) = documents(V1BETA1_CRD)
    schema: Doc = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def undeclared(schema: Doc, value: Any, path: str) -> Iterator[str]:
    """Paths of the fields of ``value`` that ``schema`` does not declare."""
    if schema.get("x-kubernetes-preserve-unknown-fields") is True:
        return
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                yield from undeclared(properties[key], item, f"{path}.{key}")
            else:
                yield f"{path}.{key}"
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from undeclared(schema["items"], item, f"{path}[{index}]")


def v1_only(manifest: Doc) -> list[str]:
    """The spec fields of ``manifest`` that flux.weave.works/v1beta1 does not have."""
    spec_schema = v1beta1_schema()["properties"]["spec"]
    return list(undeclared(spec_schema, manifest["spec"], "spec"))


def without_nulls(value: Any) -> Any:
    """``value`` as kubectl sends it: both kinds of apply leave out null map entries (the
    guide's values example has one), with a real API server too."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def as_v1beta1(manifest: Doc) -> Doc:
    return {**manifest, "apiVersion": V1BETA1}


async def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Completed:
    return await run((kubectl_bin(), *args), env, stdin)


async def apply_and_delete(
    env: Mapping[str, str], mode: str, manifest: Doc, source: Path | None = None
) -> Completed:
    """``kubectl apply`` of ``manifest`` (of the file ``source`` when given, as it is);
    the object it stored is compared with the manifest, then deleted for the next apply."""
    args = ("apply", *APPLY_MODES[mode], "-o", "json")
    if source is not None:
        done = await kubectl(env, *args, "-f", str(source))
    else:
        done = await kubectl(env, *args, "-f", "-", stdin=json.dumps(manifest))
    if done.code == 0:
        stored = done.json()
        assert stored["apiVersion"] == manifest["apiVersion"]
        assert stored["spec"] == without_nulls(manifest["spec"]), f"{mode} apply changed it"
        group = manifest["apiVersion"].split("/")[0]
        namespace = stored["metadata"]["namespace"]
        name = stored["metadata"]["name"]
        (await kubectl(env, "delete", f"helmreleases.{group}", name, "-n", namespace)).check()
    return done


def test_every_example_of_the_guide_is_here() -> None:
    assert len(EXAMPLES) == 29
    for path in EXAMPLES:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# guide/"), path
        assert " line " in first, path
        manifest = example(path)
        assert manifest["apiVersion"] == V1, path
        assert manifest["kind"] == "HelmRelease"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
@pytest.mark.parametrize("mode", sorted(APPLY_MODES))
async def test_the_example_applies_in_helm_fluxcd_io_v1(
    helm_env: dict[str, str], path: Path, mode: str
) -> None:
    manifest = example(path)
    source = path if path.name in WHOLE else None
    (await apply_and_delete(helm_env, mode, manifest, source)).check()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
@pytest.mark.parametrize("mode", sorted(APPLY_MODES))
async def test_the_example_applies_in_flux_weave_works_v1beta1_unless_it_uses_a_v1_field(
    helm_env: dict[str, str], path: Path, mode: str
) -> None:
    manifest = as_v1beta1(example(path))
    missing = v1_only(manifest)
    done = await apply_and_delete(helm_env, mode, manifest)
    if not missing:
        done.check()
        return
    assert done.code != 0, f"{mode} apply admitted {missing}"
    for field in missing:
        # Client-side apply: the server's strict decoding error ('unknown field
        # "spec.helmVersion"'); a real server words its server-side apply error
        # '.spec.helmVersion: field not declared in schema'.
        assert field in done.stderr, done.stderr
    assert "unknown field" in done.stderr or "field not declared in schema" in done.stderr


def test_helm_version_is_the_only_v1_field_the_examples_use() -> None:
    users = {path.stem: v1_only(example(path)) for path in EXAMPLES}
    assert {stem: fields for stem, fields in users.items() if fields} == {
        "release-configuration-01-helmversion": ["spec.helmVersion"],
        "release-configuration-02-redis": ["spec.helmVersion"],
        "tests-04-helmversion-test-cleanup": ["spec.helmVersion"],
    }
