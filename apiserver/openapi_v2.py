"""The OpenAPI v2 (Swagger 2.0) document at ``/openapi/v2``, as JSON and as gnostic protobuf.

kubectl reads it for what OpenAPI v3 does not answer: it validates a ``kind: List`` (apiVersion
v1) on the client, item by item, against these definitions, because the List itself has no
endpoint that could check it with ``fieldValidation=Strict``; ``kubectl explain
--output=plaintext-openapiv2`` reads it too. kubectl asks only for the protobuf form
(``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf``) and parses nothing else.

The definitions are the served types' schemas: the built-in kinds' from the release the server
claims to be (``schema.builtin``), turned back from JSON Schema into Swagger (one type per node,
``#/definitions/`` references, IntOrString and Quantity as the real server publishes them),
with everything they refer to and their List kinds; and each served CRD version's, converted as
the real server converts it for v2 (no oneOf/anyOf/allOf/not nor defaults; a nullable or
unknown-preserving node loses its type, items and properties; TypeMeta and ObjectMeta added),
with its List kind. Paths carry one PATCH operation per kind with its ``fieldValidation``
parameter, which is what kubectl looks for when OpenAPI v3 is of no help.

As on a real server the document is negotiated by ``Accept`` (406 for nothing it offers),
gzipped for clients that take it, and cached by ``ETag`` (the upper-case hex SHA-512 of the
JSON form, shared by both forms, answered with 304 on ``If-None-Match``) and ``Last-Modified``.
It is built when first asked for after the served types changed (a CRD added, changed or
removed), never on an ordinary request.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from aiohttp import web

from .discovery import KUBERNETES_VERSION, schema_name
from .resources import Registry, ResourceType
from .schema.builtin import release_schemas

JSON = "application/json"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_OFFERS = (
    ("application", "json", JSON),
    ("application", "com.github.proto-openapi.spec.v2@v1.0+protobuf", PROTOBUF),
    ("application", "com.github.proto-openapi.spec.v2.v1.0+protobuf", PROTOBUF),
)
_GZIP_MIN_SIZE = 1400
"""The smallest body the real server gzips (gziphandler's default)."""

_DEFINITIONS = "#/definitions/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_API_VERSION = {
    "description": "APIVersion defines the versioned schema of this representation of an object."
    " Servers should convert recognized schemas to the latest internal value, and may reject"
    f" unrecognized values. More info: {_CONVENTIONS}#resources",
    "type": "string",
}
_KIND = {
    "description": "Kind is a string value representing the REST resource this object"
    " represents. Servers may infer this from the endpoint the client submits requests to."
    f" Cannot be updated. In CamelCase. More info: {_CONVENTIONS}#types-kinds",
    "type": "string",
}
_METADATA = {
    "$ref": _DEFINITIONS + _OBJECT_META,
    "description": f"Standard object's metadata. More info: {_CONVENTIONS}#metadata",
}
_SPECIAL = {
    _INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "format": "int-or-string",
        "type": "string",
    },
    _QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number.",
        "type": "string",
    },
}
"""Definitions the JSON Schema form gives as a oneOf, as the real server publishes them."""

_CRD_KEPT = frozenset(
    {
        "type",
        "description",
        "title",
        "externalDocs",
        "example",
        "format",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "enum",
        "maxProperties",
        "minProperties",
        "required",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)
"""What a CRD schema node keeps besides its children and its boolean extensions (no default,
nullable, oneOf, anyOf, allOf, not): the structural schema's fields that v2 publishes."""
_CRD_FLAGS = (
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)
_REF = re.compile(r'"\$ref": "#/\$defs/([^"]+)"')


@dataclass
class _Document:
    """One build of the document: both forms, their gzipped forms once asked for, and the
    validators they are cached by."""

    key: tuple[tuple[str, int], ...]
    bodies: dict[str, bytes]
    etag: str
    last_modified: float
    gzipped: dict[str, bytes] = field(default_factory=dict)

    def body(self, content_type: str, gzip_it: bool) -> bytes:
        body = self.bodies[content_type]
        if not gzip_it:
            return body
        packed = self.gzipped.get(content_type)
        if packed is None:
            packed = self.gzipped[content_type] = gzip.compress(body, mtime=0)
        return packed


class OpenApiV2:
    """The ``/openapi/v2`` handler over one registry; the document is rebuilt only when the
    registry's group/versions changed since the last build."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._document: _Document | None = None

    def document(self) -> _Document:
        registry = self._registry
        key = tuple((gv, registry.gv_generation(gv)) for gv in registry.group_versions())
        document = self._document
        if document is None or document.key != key:
            swagger = swagger_document(
                [t for gv in registry.group_versions() for t in registry.in_group_version(gv)]
            )
            text = json.dumps(swagger, sort_keys=True, separators=(",", ":")).encode()
            document = self._document = _Document(
                key=key,
                bodies={JSON: text, PROTOBUF: encode_document(swagger)},
                etag=hashlib.sha512(text).hexdigest().upper(),
                last_modified=time.time(),
            )
        return document

    async def handle(self, request: web.Request) -> web.Response:
        content_type = negotiate(request.headers.get("Accept") or "*/*")
        headers = {"Vary": "Accept"}
        if content_type is None:
            return web.Response(status=406, headers=headers)
        document = self.document()
        headers["Etag"] = f'"{document.etag}"'
        if _not_modified(request, document):
            return web.Response(status=304, headers=headers)
        headers["Last-Modified"] = formatdate(document.last_modified, usegmt=True)
        headers["Content-Type"] = content_type
        headers["Accept-Ranges"] = "bytes"
        headers["Vary"] = "Accept, Accept-Encoding"
        gzip_it = "gzip" in request.headers.get("Accept-Encoding", "") and (
            len(document.bodies[content_type]) >= _GZIP_MIN_SIZE
        )
        if gzip_it:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=document.body(content_type, gzip_it), headers=headers)


def negotiate(accept: str) -> str | None:
    """The content type served for an ``Accept`` header: its clauses by preference (quality,
    then the more specific first), the first one the server offers; None when none is."""
    clauses: list[tuple[float, int, str, str]] = []
    for clause in accept.split(","):
        media, *params = (part.strip() for part in clause.split(";"))
        kind, _, subtype = media.partition("/")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            specific = (kind != "*") + (subtype not in ("*", ""))
            clauses.append((quality, specific, kind.lower(), subtype.lower() or "*"))
    clauses.sort(key=lambda clause: (-clause[0], -clause[1]))
    for _, _, kind, subtype in clauses:
        for offered_kind, offered_subtype, content_type in _OFFERS:
            if kind in (offered_kind, "*") and subtype in (offered_subtype, "*"):
                return content_type
    return None


def _not_modified(request: web.Request, document: _Document) -> bool:
    """Whether the client's copy is current, as ``http.ServeContent`` decides it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or f'"{document.etag}"' in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since).timestamp()
    except (TypeError, ValueError):
        return False
    return int(document.last_modified) <= since


# --- the Swagger document -------------------------------------------------------------------


def swagger_document(types: Iterable[ResourceType]) -> dict[str, Any]:
    """The Swagger 2.0 document of the served types."""
    served = list(types)
    builtin = frozenset((t.group, t.version, t.kind) for t in served if not t.is_custom)
    definitions = dict(_builtin_definitions(builtin))
    for resource_type in served:
        if resource_type.is_custom:
            definitions[schema_name(resource_type)] = _crd_definition(resource_type)
            list_name = schema_name(resource_type) + "List"
            definitions[list_name] = _crd_list_definition(resource_type)
    kinds = release_schemas().kinds
    paths: dict[str, Any] = {}
    for resource_type in served:
        gvk = (resource_type.group, resource_type.version, resource_type.kind)
        name = schema_name(resource_type) if resource_type.is_custom else kinds.get(gvk)
        prefix = f"/apis/{resource_type.api_version}" if resource_type.group else "/api/v1"
        scope = "/namespaces/{namespace}" if resource_type.namespaced else ""
        paths[f"{prefix}{scope}/{resource_type.plural}/{{name}}"] = {
            "patch": _patch_operation(resource_type, name)
        }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "definitions": definitions,
    }


def _patch_operation(resource_type: ResourceType, definition: str | None) -> dict[str, Any]:
    query = [
        ("dryRun", "string"),
        ("fieldManager", "string"),
        ("fieldValidation", "string"),
        ("force", "boolean"),
    ]
    response: dict[str, Any] = {"description": "OK"}
    if definition is not None:
        response["schema"] = {"$ref": _DEFINITIONS + definition}
    return {
        "description": f"partially update the specified {resource_type.kind}",
        "parameters": [
            {"name": name, "in": "query", "type": kind, "uniqueItems": True} for name, kind in query
        ],
        "responses": {"200": response},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": resource_type.group,
            "version": resource_type.version,
            "kind": resource_type.kind,
        },
    }


@functools.cache
def _builtin_definitions(kinds: frozenset[tuple[str, str, str]]) -> Mapping[str, Any]:
    """The definitions of built-in kinds and their Lists, and of everything they refer to."""
    release = release_schemas()
    wanted = [
        name
        for group, version, kind in sorted(kinds)
        for key in ((group, version, kind), (group, version, kind + "List"))
        if (name := release.kinds.get(key)) is not None
    ]
    definitions: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in definitions:
            continue
        text = release.texts[name]
        definitions[name] = _SPECIAL.get(name) or _from_json_schema(json.loads(text), top=True)
        wanted.extend(_REF.findall(text))
    return definitions


def _from_json_schema(node: Any, top: bool = False) -> Any:
    """A node of the release's JSON Schema as Swagger: one type, ``#/definitions/`` refs, and
    no apiVersion or kind enums (the JSON Schema form adds them; kubectl reads no enum)."""
    if isinstance(node, list):
        return [_from_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _DEFINITIONS + value.rpartition("/")[2]
        elif key == "type" and isinstance(value, list):
            out[key] = next((t for t in value if t != "null"), "object")
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _from_json_schema(child) for name, child in value.items()}
            if top:
                for name in ("apiVersion", "kind"):
                    if name in out[key]:
                        out[key][name].pop("enum", None)
        elif key.startswith("x-"):
            out[key] = value
        else:
            out[key] = _from_json_schema(value)
    return out


def _crd_definition(resource_type: ResourceType) -> dict[str, Any]:
    """A CRD version's definition as the real server publishes it in v2."""
    schema = resource_type.schema or {}
    gvk = {
        "group": resource_type.group,
        "version": resource_type.version,
        "kind": resource_type.kind,
    }
    if not schema or schema.get("x-kubernetes-preserve-unknown-fields") is True:
        # Nothing but the type: kubectl would take any property as the only ones allowed.
        return {"type": "object", "x-kubernetes-group-version-kind": [gvk]}
    definition = _crd_node(schema)
    properties = definition.setdefault("properties", {})
    properties["metadata"] = dict(_METADATA)
    properties["apiVersion"] = dict(_API_VERSION)
    properties["kind"] = dict(_KIND)
    _embed(definition)
    definition["x-kubernetes-group-version-kind"] = [gvk]
    return definition


def _crd_node(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``ToStructuralOpenAPIV2``: one node of a structural schema in its v2 form."""
    node = {key: value for key, value in schema.items() if key in _CRD_KEPT}
    for flag in _CRD_FLAGS:
        if schema.get(flag) is True:
            node[flag] = True
    properties = schema.get("properties")
    items = schema.get("items")
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if schema.get("nullable") is True:
        node.pop("type", None)
        properties = items = None
    if preserve:
        properties = items = None
        if node.get("type") == "object":
            del node["type"]
    if not isinstance(items, Mapping) and node.get("type") == "array":
        del node["type"]
    if isinstance(properties, Mapping):
        nullable = {name for name, child in properties.items() if _nullable(child)}
        if nullable and isinstance(node.get("required"), list):
            node["required"] = [name for name in node["required"] if name not in nullable]
            if not node["required"]:
                del node["required"]
        node["properties"] = {name: _crd_node(child) for name, child in properties.items()}
    if isinstance(items, Mapping):
        node["items"] = _crd_node(items)
    if isinstance(additional, Mapping):
        if _nullable(additional):
            node.pop("required", None)
        node["additionalProperties"] = _crd_node(additional)
    elif isinstance(additional, bool):
        node["additionalProperties"] = additional
    return node


def _nullable(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("nullable") is True


def _embed(node: dict[str, Any]) -> None:
    """``addEmbeddedProperties``: an embedded resource gets TypeMeta and ObjectMeta."""
    for child in node.get("properties", {}).values():
        _embed(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _embed(node[key])
    if node.get("x-kubernetes-preserve-unknown-fields") is True:
        return
    if node.get("x-kubernetes-embedded-resource") is True:
        properties = node.setdefault("properties", {})
        properties["apiVersion"] = dict(_API_VERSION)
        properties["kind"] = dict(_KIND)
        properties["metadata"] = dict(_METADATA)
        required = node.setdefault("required", [])
        required.extend(name for name in ("kind", "apiVersion") if name not in required)


def _crd_list_definition(resource_type: ResourceType) -> dict[str, Any]:
    kind = resource_type.kind
    return {
        "description": f"{kind}List is a list of {kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "kind": dict(_KIND),
            "items": {
                "description": f"List of {resource_type.plural}. More info: {_CONVENTIONS}",
                "type": "array",
                "items": {"$ref": _DEFINITIONS + schema_name(resource_type)},
            },
            "metadata": {
                "$ref": _DEFINITIONS + _LIST_META,
                "description": f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds",
            },
        },
        "x-kubernetes-group-version-kind": [
            {"group": resource_type.group, "version": resource_type.version, "kind": kind + "List"}
        ],
    }


# --- gnostic protobuf -----------------------------------------------------------------------
# The messages of gnostic's openapiv2/OpenAPIv2.proto, as its ParseDocument makes them from the
# JSON form: every JSON value that is not a typed field (a default, an enum value, a vendor
# extension) is an ``Any`` holding its YAML text, which JSON is.


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _message(number: int, body: bytes) -> bytes:
    """A length-delimited field: a string, bytes or an embedded message (even an empty one)."""
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def _string(number: int, value: Any) -> bytes:
    text = str(value)
    return _message(number, text.encode()) if text else b""


def _int(number: int, value: Any) -> bytes:
    return _varint(number << 3) + _varint(int(value)) if value else b""


def _bool(number: int, value: Any) -> bytes:
    return _varint(number << 3) + b"\x01" if value is True else b""


def _double(number: int, value: Any) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", float(value)) if value else b""


def _any(number: int, value: Any) -> bytes:
    """An ``Any`` whose ``yaml`` (2) is the value's text."""
    return _message(number, _message(2, json.dumps(value, sort_keys=True).encode()))


def _extensions(number: int, node: Mapping[str, Any]) -> bytes:
    """The ``x-`` keys as ``NamedAny``s {1 name, 2 value}."""
    return b"".join(
        _message(number, _string(1, key) + _any(2, value))
        for key, value in node.items()
        if key.startswith("x-")
    )


def _named(number: int, items: Mapping[str, Any], encode: Any) -> bytes:
    """A map as repeated ``Named*`` messages {1 name, 2 value}, in key order."""
    return b"".join(
        _message(number, _string(1, name) + _message(2, encode(items[name])))
        for name in sorted(items)
    )


_SCHEMA_SCALARS: tuple[tuple[str, int, Any], ...] = (
    ("$ref", 1, _string),
    ("format", 2, _string),
    ("title", 3, _string),
    ("description", 4, _string),
    ("default", 5, _any),
    ("multipleOf", 6, _double),
    ("maximum", 7, _double),
    ("exclusiveMaximum", 8, _bool),
    ("minimum", 9, _double),
    ("exclusiveMinimum", 10, _bool),
    ("maxLength", 11, _int),
    ("minLength", 12, _int),
    ("pattern", 13, _string),
    ("maxItems", 14, _int),
    ("minItems", 15, _int),
    ("uniqueItems", 16, _bool),
    ("maxProperties", 17, _int),
    ("minProperties", 18, _int),
)


def _schema(node: Mapping[str, Any]) -> bytes:
    out = [encode(number, node[key]) for key, number, encode in _SCHEMA_SCALARS if key in node]
    out.extend(_string(19, name) for name in node.get("required", ()))
    out.extend(_any(20, value) for value in node.get("enum", ()))
    additional = node.get("additionalProperties")
    if isinstance(additional, bool):  # a oneof: false is written too
        out.append(_message(21, _varint(2 << 3) + _varint(int(additional))))
    elif isinstance(additional, Mapping):
        out.append(_message(21, _message(1, _schema(additional))))
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        out.append(_message(22, b"".join(_string(1, t) for t in types)))
    items = node.get("items")
    if isinstance(items, Mapping):
        out.append(_message(23, _message(1, _schema(items))))
    elif isinstance(items, list):
        out.append(_message(23, b"".join(_message(1, _schema(item)) for item in items)))
    out.extend(_message(24, _schema(each)) for each in node.get("allOf", ()))
    if isinstance(node.get("properties"), Mapping):
        out.append(_message(25, _named(1, node["properties"], _schema)))
    if "discriminator" in node:
        out.append(_string(26, node["discriminator"]))
    if "readOnly" in node:
        out.append(_bool(27, node["readOnly"]))
    docs = node.get("externalDocs")
    if isinstance(docs, Mapping):
        out.append(
            _message(29, _string(1, docs.get("description", "")) + _string(2, docs.get("url", "")))
        )
    if "example" in node:
        out.append(_any(30, node["example"]))
    out.append(_extensions(31, node))
    return b"".join(out)


def _query_parameter(parameter: Mapping[str, Any]) -> bytes:
    """A ``ParametersItem`` {1 Parameter {2 NonBodyParameter {3 QueryParameterSubSchema}}}."""
    sub = b"".join(
        (
            _bool(1, parameter.get("required")),
            _string(2, parameter["in"]),
            _string(3, parameter.get("description", "")),
            _string(4, parameter["name"]),
            _string(6, parameter.get("type", "")),
            _bool(20, parameter.get("uniqueItems")),
            _extensions(23, parameter),
        )
    )
    return _message(1, _message(2, _message(3, sub)))


def _response(response: Mapping[str, Any]) -> bytes:
    """A ``ResponseValue`` {1 Response {1 description, 2 SchemaItem {1 Schema}}}."""
    body = _string(1, response.get("description", ""))
    if isinstance(response.get("schema"), Mapping):
        body += _message(2, _message(1, _schema(response["schema"])))
    return _message(1, body + _extensions(5, response))


def _operation(operation: Mapping[str, Any]) -> bytes:
    return b"".join(
        (
            _string(3, operation.get("description", "")),
            b"".join(_message(8, _query_parameter(p)) for p in operation.get("parameters", ())),
            _message(9, _named(1, operation.get("responses", {}), _response)),
            _extensions(13, operation),
        )
    )


_PATH_OPERATIONS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _path_item(item: Mapping[str, Any]) -> bytes:
    return b"".join(
        _message(number, _operation(item[verb]))
        for verb, number in _PATH_OPERATIONS.items()
        if verb in item
    )


def encode_document(swagger: Mapping[str, Any]) -> bytes:
    """The ``openapi_v2.Document`` of a Swagger document built by ``swagger_document``."""
    info = swagger["info"]
    return b"".join(
        (
            _string(1, swagger["swagger"]),
            _message(2, _string(1, info["title"]) + _string(2, info["version"])),
            _message(8, _named(2, swagger["paths"], _path_item)),
            _message(9, _named(1, swagger["definitions"], _schema)),
        )
    )
