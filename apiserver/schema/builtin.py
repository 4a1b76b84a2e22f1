"""The schemas of the built-in kinds: Kubernetes' own, from the kubernetes-validate package.

The package holds the JSON schemas of every recent Kubernetes release (per release, one
``_definitions.json`` whose definitions refer to each other); ``KUBERNETES_SCHEMAS`` picks the
release the server claims to be (``discovery.KUBERNETES_VERSION``). A kind's schema is
converted the first time a request needs it, into the structural form ``prune`` reads
(``type``, ``properties``, ``additionalProperties``, ``items``, preserved free-form JSON) plus
a ``GoType`` on every node, which ``decoding`` reads. A ``$ref`` becomes the one converted node
of its definition, shared by every kind that reaches it (ObjectMeta is converted once) and
possibly cyclic (a CRD's JSONSchemaProps contains itself), which is harmless: the walks follow
the object, not the schema. Formats and enums are left out: the only formats that matter are
Go types (``byte``: a base64 string), and the only enums are the kinds' apiVersion and kind,
which admission checks against the URL anyway (a Service's type is checked by the real
server's Go validation, which no schema carries).

Only some ``required`` fields are kept, because a real server never checks them against the
schema: its Go validation rejects what it must, in its own words, and accepts some absences the
schema calls required (a string or number field absent is its zero value, which validation may
well accept: ``HTTPHeader.value``, a CRD version's ``served``; ``status`` is written by
controllers the server trusts). Kept are the object and list fields whose absence validation
rejects too (a Deployment's ``spec.selector`` and ``spec.template``, a Pod's ``containers``, a
RoleBinding's ``roleRef``), minus those it is known to accept absent (``_ABSENCE_ACCEPTED``).
Not checking a field a real server rejects costs less than rejecting what it accepts: a chart
must never fail here and install on a cluster.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from .common import PRESERVE, Schema
from .decoding import ANY, GO_TYPE, GoType

KUBERNETES_SCHEMAS = "v1.35.0"
"""The release whose schemas the server checks built-in objects against (kubectl 1.35's)."""

_PACKAGE = "kubernetes_validate"
_DEFINITIONS = ("kubernetes-json-schema", f"{KUBERNETES_SCHEMAS}-local", "_definitions.json")
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_ABSENCE_ACCEPTED = frozenset(
    {
        # A core Event in "default" needs no involvedObject (validation checks its namespace).
        ("io.k8s.api.core.v1.Event", "involvedObject"),
        # A Job's podFailurePolicy may have no rules; a preferred scheduling term no preference.
        ("io.k8s.api.batch.v1.PodFailurePolicy", "rules"),
        ("io.k8s.api.core.v1.PreferredSchedulingTerm", "preference"),
    }
)
_SCALARS = {
    ("integer", "int32"): GoType("int", "int32"),
    ("integer", "int64"): GoType("int", "int64"),
    ("integer", None): GoType("int", "int"),
    ("number", "double"): GoType("float", "float64"),
    ("number", None): GoType("float", "float64"),
    ("string", "byte"): GoType("bytes", "[]uint8"),
    ("string", None): GoType("string", "string"),
    ("boolean", None): GoType("bool", "bool"),
}


def builtin_schema(group: str, version: str, kind: str) -> Schema | None:
    """The converted schema of a built-in kind; None for a kind Kubernetes does not have."""
    name = release_schemas().kinds.get((group, version, kind))
    return None if name is None else _converter().definition(name)


@dataclass(frozen=True)
class Release:
    """The release's definitions as JSON texts, each parsed when a kind first needs it: the
    parsed tree of them all, held for the life of the process, would only give the garbage
    collector thousands of objects to go through again and again."""

    texts: Mapping[str, str]
    kinds: Mapping[tuple[str, str, str], str]
    """The definition of each group/version/kind."""
    types: Mapping[str, str | None]
    """The JSON type of each definition, for the fields that refer to it."""


@functools.cache
def release_schemas() -> Release:
    """Read from the package's files without importing it (its validator pulls in jsonschema,
    which the server never uses)."""
    spec = find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_PACKAGE} package is not installed (pip install -e '.[dev]')")
    path = Path(next(iter(spec.submodule_search_locations)), *_DEFINITIONS)
    if not path.is_file():
        raise RuntimeError(f"this {_PACKAGE} has no schemas of Kubernetes {KUBERNETES_SCHEMAS}")
    definitions: dict[str, Any] = json.loads(path.read_bytes())["$defs"]
    return Release(
        texts={name: json.dumps(definition) for name, definition in definitions.items()},
        kinds={
            (gvk["group"], gvk["version"], gvk["kind"]): name
            for name, definition in definitions.items()
            for gvk in definition.get("x-kubernetes-group-version-kind", ())
        },
        types={name: _json_type(definition) for name, definition in definitions.items()},
    )


@functools.cache
def _converter() -> _Converter:
    return _Converter(release_schemas())


class _Converter:
    """Converts definitions once each; the converted nodes are shared."""

    def __init__(self, release: Release) -> None:
        self._release = release
        self._converted: dict[str, dict[str, Any]] = {}

    def definition(self, name: str) -> dict[str, Any]:
        converted = self._converted.get(name)
        if converted is None:
            raw = json.loads(self._release.texts[name])
            # Registered before its fields are: a field of the same type (a cycle) finds it.
            converted = self._converted[name] = {GO_TYPE: _struct_type(raw, name)}
            converted.update(self._node(raw, name))
        return converted

    def _node(self, raw: Mapping[str, Any], name: str = "") -> dict[str, Any]:
        """One node; `name` is its definition's when it is one."""
        ref = raw.get("$ref")
        if isinstance(ref, str):
            return self.definition(ref.rpartition("/")[2])
        if name == _INT_OR_STRING:
            return {GO_TYPE: GoType("intstr", "intstr.IntOrString")}
        if name == _QUANTITY:
            return {GO_TYPE: GoType("quantity", "resource.Quantity")}
        kind = _json_type(raw)
        if kind == "object":
            return self._object(raw, name)
        if kind == "array":
            return self._array(raw)
        if kind in ("integer", "number", "string", "boolean"):
            go = _SCALARS.get((kind, raw.get("format"))) or _SCALARS[(kind, None)]
            return {"type": kind, GO_TYPE: go}
        return {PRESERVE: True, GO_TYPE: ANY}  # JSON of any type (a CRD schema's default)

    def _json_type(self, raw: Mapping[str, Any]) -> str | None:
        """A node's type, through a ``$ref``."""
        ref = raw.get("$ref")
        if isinstance(ref, str):
            return self._release.types[ref.rpartition("/")[2]]
        return _json_type(raw)

    def _object(self, raw: Mapping[str, Any], name: str) -> dict[str, Any]:
        properties = raw.get("properties")
        additional = raw.get("additionalProperties")
        if isinstance(properties, Mapping):
            return {
                "type": "object",
                "properties": {key: self._node(child) for key, child in properties.items()},
                "required": self._kept_required(name, raw.get("required", ()), properties),
                GO_TYPE: _struct_type(raw, name),
            }
        if isinstance(additional, Mapping):
            values = self._node(additional)
            go = GoType("map", f"map[string]{values[GO_TYPE].name}")
            return {"type": "object", "additionalProperties": values, GO_TYPE: go}
        return {"type": "object", PRESERVE: True, GO_TYPE: ANY}  # RawExtension, FieldsV1

    def _array(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        items = self._node(raw.get("items") or {})
        list_type, keys = _list_identity(raw)
        go = GoType("slice", f"[]{items[GO_TYPE].name}", list_type, keys)
        return {"type": "array", "items": items, GO_TYPE: go}

    def _kept_required(
        self, definition: str, names: Any, properties: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """The required fields whose absence a real server rejects as well (see the module)."""
        return tuple(
            name
            for name in names
            if name in properties
            and self._json_type(properties[name]) in ("object", "array")
            and (definition, name) not in _ABSENCE_ACCEPTED
        )


def _json_type(raw: Mapping[str, Any]) -> str | None:
    """The type of a node that may also be null: ``["integer", "null"]`` is an integer."""
    types = raw.get("type")
    if isinstance(types, list):
        return next((t for t in types if t != "null"), None)
    return types if isinstance(types, str) else None


def _struct_type(raw: Mapping[str, Any], definition: str) -> GoType:
    """A struct's type, named as Go prints it (io.k8s.api.core.v1.PodSpec: v1.PodSpec)."""
    if not isinstance(raw.get("properties"), Mapping):
        return ANY  # not a struct: the node's own conversion says what it is
    package, _, name = definition.rpartition(".")
    return GoType("struct", f"{package.rpartition('.')[2]}.{name}" if name else "struct")


def _list_identity(raw: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """How server-side apply names a list's elements: by keys, by value, or by index.

    Lists without ``x-kubernetes-list-type`` that strategic merge patch merges by a key are
    keyed by it, as the real server's structured-merge-diff schemas say.
    """
    list_type = raw.get("x-kubernetes-list-type")
    keys = raw.get("x-kubernetes-list-map-keys")
    if list_type == "map" and isinstance(keys, list):
        return "map", tuple(keys)
    if list_type in ("atomic", "set"):
        return list_type, ()
    merge_key = raw.get("x-kubernetes-patch-merge-key")
    if isinstance(merge_key, str) and "merge" in str(raw.get("x-kubernetes-patch-strategy")):
        return "map", (merge_key,)
    return "atomic", ()
