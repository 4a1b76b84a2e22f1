"""`make lint`: every manifest variant, rendered by kustomize, against real schemas.

Each directory with a kustomization.yaml under manifests/ is rendered with the pinned
kubectl's kustomize, as `kubectl apply -k` would send it; the HelmRelease examples are read
as they are. Every object is then checked against a schema, with unknown fields rejected
(a misspelled field is an error, as under kubectl's Strict field validation):

- Kubernetes kinds: the Kubernetes JSON schemas of kubernetes-validate for the target
  version (strict variant: no field the API does not declare);
- our custom resources (HelmRelease, both groups): the openAPIV3Schema of their CRD in
  manifests/crds/, pruned (unknown fields are errors) and validated the way an API server
  does (apiserver.schema, the in-memory server's implementation);
- Prometheus Operator kinds (monitoring.coreos.com), whose CRDs are not available offline:
  metadata against the Kubernetes ObjectMeta schema and the structure this project uses
  (a ServiceMonitor's selector, namespaceSelector and endpoints; a PrometheusRule's
  groups, whose rules scripts/check_monitoring.py checks with promtool). What is not
  schema-checked is printed, never skipped in silence.

An object of any other kind fails the check: add its schema here first.
Exits 1 when anything is wrong, naming the file or variant, the object and the field.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apiserver.crds import crd_errors  # noqa: E402
from apiserver.schema import prune, validate  # noqa: E402

KUBERNETES_VERSION = "1.35"
PROMETHEUS_OPERATOR = "monitoring.coreos.com/v1"
DEFINITIONS = "https://kubernetes.io/api/_definitions.json#/$defs/"
# Prometheus' duration format (rulefmt, scrape intervals): 30s, 1m30s, 1h ...
DURATION = re.compile(
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?$"
)

Doc = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """Where objects come from: a rendered kustomization or a file, for messages."""

    name: str
    objects: tuple[Any, ...]  # as parsed: a document may be no object at all


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.unchecked: set[str] = set()
        self.checked = 0

    def error(self, source: Source, obj: Doc, message: str) -> None:
        self.errors.append(f"{source.name}: {describe(obj)}: {message}")


def describe(obj: Doc) -> str:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return f"{obj.get('apiVersion')} {obj.get('kind')} {metadata.get('name', '?')}"


def render(kubectl: str, directory: Path) -> tuple[Any, ...]:
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory} failed:\n{done.stderr.strip()}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc is not None)


class RenderError(Exception):
    pass


def read_objects(path: Path) -> tuple[Any, ...]:
    return tuple(doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None)


# --- our CRDs ---------------------------------------------------------------------------


def crd_schemas(crds: Path) -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> openAPIV3Schema, for every version of our CRDs."""
    schemas = {}
    for path in sorted(crds.glob("*.yaml")):
        for crd in read_objects(path):
            spec = crd["spec"]
            for version in spec["versions"]:
                api_version = f"{spec['group']}/{version['name']}"
                schemas[api_version, spec["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


def check_custom_resource(schema: Doc, obj: Doc) -> list[str]:
    unknown: list[str] = []
    pruned = prune(schema, obj, unknown)
    problems = [f"unknown field {path!r}" for path in unknown]
    problems += [str(error) for error in validate(schema, pruned)]
    problems += meta_errors("ObjectMeta", obj.get("metadata"), "metadata")
    return problems


# --- Kubernetes schemas --------------------------------------------------------------------


def strict_schemas() -> Any:
    """The strict Kubernetes JSON schemas of the target version (no undeclared fields)."""
    return (
        resources.files(kubernetes_validate)
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}.0-local-strict"
    )


@functools.cache
def definitions_registry() -> Registry:
    """The Kubernetes definitions of the target version, for $ref lookups."""
    definitions = json.loads((strict_schemas() / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


def schema_errors(schema: Doc, value: Any, at: str = "") -> list[str]:
    """Every problem of `value` against `schema`, each prefixed by its path under `at`."""
    validator = jsonschema.Draft202012Validator(schema, registry=definitions_registry())
    return [
        f"{'.'.join([at, *map(str, error.absolute_path)]).strip('.') or '.'}: {error.message}"
        for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path)))
    ]


def meta_errors(definition: str, value: Any, at: str) -> list[str]:
    """Problems of `value` (at `at`) against io.k8s.apimachinery.pkg.apis.meta.v1.<definition>."""
    return schema_errors(
        {"$ref": f"{DEFINITIONS}io.k8s.apimachinery.pkg.apis.meta.v1.{definition}"}, value, at
    )


def check_kubernetes_object(obj: Doc) -> list[str] | None:
    """Every problem of a built-in kind; None when there is no schema for it.

    The schema file is the one kubernetes_validate.validate(obj, version, strict=True)
    picks (<kind>-<group>-<version>.json); read here to report every error, not the first.
    """
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(obj.get("apiVersion")))
    path = strict_schemas() / f"{str(obj.get('kind')).lower()}-{group_version}.json"
    if not path.is_file():
        return None
    return schema_errors(json.loads(path.read_text()), obj)


# --- Prometheus Operator kinds: structure only ---------------------------------------------


def check_service_monitor(obj: Doc) -> tuple[list[str], str]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return ["spec: must be an object"], ""
    problems = meta_errors("LabelSelector", spec.get("selector"), "spec.selector")
    if "selector" not in spec:
        problems.append("spec.selector: required")
    namespaces = spec.get("namespaceSelector", {})
    if not isinstance(namespaces, dict) or set(namespaces) - {"any", "matchNames"}:
        problems.append("spec.namespaceSelector: only `any` and `matchNames` are allowed")
    endpoints = spec.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("spec.endpoints: must be a non-empty list")
        endpoints = []
    for index, endpoint in enumerate(endpoints):
        where = f"spec.endpoints[{index}]"
        if not isinstance(endpoint, dict):
            problems.append(f"{where}: must be an object")
            continue
        if "port" not in endpoint and "targetPort" not in endpoint:
            problems.append(f"{where}: names neither port nor targetPort")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not DURATION.match(str(endpoint[key])):
                problems.append(f"{where}.{key}: {endpoint[key]!r} is not a Prometheus duration")
        for key in ("honorLabels", "honorTimestamps"):
            if key in endpoint and not isinstance(endpoint[key], bool):
                problems.append(f"{where}.{key}: must be a boolean")
        if "path" in endpoint and not str(endpoint["path"]).startswith("/"):
            problems.append(f"{where}.path: must start with /")
    unchecked = (
        "ServiceMonitor: metadata (Kubernetes ObjectMeta schema), spec.selector (LabelSelector"
        " schema), namespaceSelector, endpoints' port, durations and booleans checked; other"
        " spec fields not schema-checked (no ServiceMonitor CRD schema offline)"
    )
    return problems, unchecked


def check_prometheus_rule(obj: Doc) -> tuple[list[str], str]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return ["spec: must be an object"], ""
    problems = [f"spec.{key}: unknown field" for key in set(spec) - {"groups"}]
    groups = spec.get("groups")
    if not isinstance(groups, list) or not groups:
        problems.append("spec.groups: must be a non-empty list")
        groups = []
    for index, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            problems.append(f"spec.groups[{index}]: must be an object with a name")
        elif not isinstance(group.get("rules"), list):
            problems.append(f"spec.groups[{index}].rules: must be a list")
    unchecked = (
        "PrometheusRule: metadata (Kubernetes ObjectMeta schema) and spec.groups' shape checked"
        " here; the rule groups (fields, durations, PromQL) by promtool in"
        " scripts/check_monitoring.py (no PrometheusRule CRD schema offline)"
    )
    return problems, unchecked


THIRD_PARTY = {
    (PROMETHEUS_OPERATOR, "ServiceMonitor"): check_service_monitor,
    (PROMETHEUS_OPERATOR, "PrometheusRule"): check_prometheus_rule,
}


# --- the walk --------------------------------------------------------------------------------


def check(source: Source, schemas: dict[tuple[str, str], Doc], report: Report) -> None:
    for obj in source.objects:
        if not isinstance(obj, dict):
            report.errors.append(f"{source.name}: a document that is not an object")
            continue
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        report.checked += 1
        if key in schemas:
            problems = check_custom_resource(schemas[key], obj)
        elif key in THIRD_PARTY:
            problems = meta_errors("ObjectMeta", obj.get("metadata"), "metadata")
            more, unchecked = THIRD_PARTY[key](obj)
            problems += more
            if unchecked:
                report.unchecked.add(unchecked)
        else:
            found = check_kubernetes_object(obj)
            if found is None:
                report.error(source, obj, "no schema for this kind: add one to this check")
                continue
            problems = found
            if key == ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
                problems += [f"{c.field}: {c.message}" for c in crd_errors(obj)]
        for problem in problems:
            report.error(source, obj, problem)


def sources(
    kubectl: str, manifests: Path, examples: Path | None, report: Report
) -> Iterator[Source]:
    """Every kustomization under `manifests`, rendered, then every example file."""
    for kustomization in sorted(manifests.rglob("kustomization.yaml")):
        directory = kustomization.parent
        try:
            objects = render(kubectl, directory)
        except RenderError as error:
            report.errors.append(str(error))
            continue
        yield Source(f"kustomize {directory.relative_to(manifests.parent)}", objects)
    if examples is not None:
        for path in sorted(examples.glob("*.yaml")):
            yield Source(str(path.relative_to(examples.parent)), read_objects(path))


def default_kubectl() -> str:
    return os.environ.get("KUBECTL_BIN") or str(ROOT / ".tools" / "bin" / "kubectl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=Path, default=ROOT / "manifests")
    parser.add_argument("--examples", type=Path, default=ROOT / "examples")
    parser.add_argument("--crds", type=Path, help="default: MANIFESTS/crds")
    parser.add_argument("--kubectl", default=default_kubectl())
    args = parser.parse_args(argv)
    if not Path(args.kubectl).is_file():
        print(f"check-manifests: no kubectl at {args.kubectl} (run `make tools`)", file=sys.stderr)
        return 1
    schemas = crd_schemas(args.crds or args.manifests / "crds")
    report = Report()
    names = []
    for source in sources(args.kubectl, args.manifests, args.examples, report):
        names.append(source.name)
        check(source, schemas, report)
    for line in sorted(report.unchecked):
        print(f"check-manifests: not fully schema-checked: {line}")
    if report.errors:
        for line in report.errors:
            print(f"check-manifests: {line}", file=sys.stderr)
        return 1
    print(
        f"check-manifests: {report.checked} objects of {len(names)} variants and examples"
        f" valid (Kubernetes {KUBERNETES_VERSION} schemas, strict; HelmRelease CRDs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
