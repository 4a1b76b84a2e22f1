"""Admission: checks and completes an object before the store sees it.

Every write passes here after decoding and patching: the type and name must agree with the
URL and be valid; a built-in object is decoded as the real server decodes it into its Go type
(wrong types rejected, unknown fields dropped, required objects and lists checked, against the
Kubernetes schema of its kind); a CRD must be well formed; a custom resource is pruned,
defaulted and validated against its schema; a Secret's stringData becomes data and a Service
gets a cluster IP (kept on update when a client leaves it out). The null fields of a built-in
object are dropped, as its decoding into Go drops them, and an update may not change what the
real server's update validation keeps (``immutable``). Unknown fields are rejected, warned
about or dropped silently as the request's field validation says. Rejections carry the real
server's Status, causes included, and the real server's words, which depend on how the object
came (``Source``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any

from .. import errors
from ..crds import crd_errors
from ..errors import ApiError, StatusCause
from ..immutable import service_ips, update_causes
from ..requestinfo import RequestInfo
from ..resources import CRDS, GroupResource, ResourceType, stored
from ..schema import (
    Dialect,
    FieldError,
    Schema,
    apply_defaults,
    builtin_schema,
    decode,
    go_print,
    go_quote,
    prune,
    validate,
)
from ..schema.decoding import ANY, GO_TYPE, GoType
from ..store import meta

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
STRICT, WARN = "Strict", "Warn"
"""Field validation directives (the third, Ignore, drops unknown fields silently)."""
_NO_KIND = GroupResource("", "")
"""A patch that cannot be decoded is invalid as a patch, of no kind in particular."""


class Source(Enum):
    """How the object came: which decoder the real server runs it through, hence its words."""

    BODY = "body"
    """A create or update: the body decoded by encoding/json (400 "cannot be handled as")."""
    PATCH = "patch"
    """A JSON or merge patch: the patched JSON decoded by encoding/json (422 on the patch)."""
    STRATEGIC = "strategic"
    """A strategic merge patch: the patched map converted (422 showing the patch)."""
    APPLY = "apply"
    """Server-side apply: the configuration typed by structured-merge-diff (500)."""


_DIALECTS = {
    Source.BODY: Dialect.JSON,
    Source.PATCH: Dialect.JSON,
    Source.STRATEGIC: Dialect.UNSTRUCTURED,
    Source.APPLY: Dialect.TYPED,
}


@dataclass
class Decoding:
    """One write's decoding: where its object came from, its field validation directive, the
    raw patch (a strategic merge patch is shown in its errors) and the warnings it collects."""

    source: Source
    directive: str = WARN
    patch: bytes = b""
    warnings: list[str] = dataclass_field(default_factory=list)

    def warning_headers(self) -> list[str]:
        """The ``Warning`` header values of the response, as the real server writes them."""
        return [f"299 - {go_quote(text)}" for text in self.warnings]


class ClusterIps:
    """Hands out Service cluster IPs from 10.96.0.0/12, never the same one twice."""

    def __init__(self) -> None:
        self._hosts = ipaddress.ip_network("10.96.0.0/12").hosts()
        next(self._hosts)  # 10.96.0.1 belongs to the "kubernetes" Service on a real cluster

    def allocate(self) -> str:
        return str(next(self._hosts))


class Admission:
    """Admits the objects of one server; it owns the server's pool of Service cluster IPs."""

    def __init__(self) -> None:
        self.cluster_ips = ClusterIps()

    def admit(
        self,
        resource_type: ResourceType,
        obj: dict[str, Any],
        info: RequestInfo,
        live: dict[str, Any] | None,
        decoding: Decoding,
    ) -> dict[str, Any]:
        """Check and complete an object about to be stored; raise the real server's errors."""
        obj = _with_type_and_name(resource_type, obj, info)
        if resource_type.schema is not None:
            obj = _custom_admission(resource_type, obj, decoding)
        else:
            obj = _builtin_admission(resource_type, obj, decoding)
        if resource_type.group_resource == CRDS:
            causes = crd_errors(obj)
            if causes:
                raise errors.invalid(
                    resource_type.kind,
                    resource_type.group_resource,
                    meta(obj).get("name", ""),
                    causes,
                )
        if resource_type.plural == "secrets" and not resource_type.group:
            obj = _secret_defaults(obj)
        if resource_type.plural == "services" and not resource_type.group:
            obj = self._with_cluster_ip(obj, live)
        if live is not None and info.subresource is None and resource_type.schema is None:
            causes = update_causes(resource_type.group, resource_type.plural, obj, live)
            if causes:
                name = str(meta(obj).get("name", ""))
                raise errors.invalid(resource_type.kind, resource_type.group_resource, name, causes)
        return stored(obj, resource_type)  # in the stored form: an events.k8s.io Event is core's

    def _with_cluster_ip(self, obj: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
        """The cluster IPs the registry keeps or synchronises (``immutable.service_ips``),
        and one allocated for a Service that has none."""
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        live_spec = (live or {}).get("spec")
        spec = service_ips(spec, live_spec if isinstance(live_spec, dict) else None)
        if spec.get("type") == "ExternalName":
            return {**obj, "spec": spec}
        spec.setdefault("type", "ClusterIP")
        if not spec.get("clusterIP"):
            ip = self.cluster_ips.allocate()
            spec = {**spec, "clusterIP": ip, "clusterIPs": [ip]}
        return {**obj, "spec": spec}


def _with_type_and_name(
    resource_type: ResourceType, obj: dict[str, Any], info: RequestInfo
) -> dict[str, Any]:
    """Fill apiVersion, kind and namespace; reject mismatches with the URL and bad names."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if kind not in (None, "", resource_type.kind):
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({resource_type.kind})"
        )
    if api_version not in (None, "", resource_type.api_version):
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource_type.api_version})"
        )
    raw_meta = obj.get("metadata")
    if raw_meta is not None and not isinstance(raw_meta, dict):
        raise errors.bad_request("metadata must be an object")
    metadata = dict(raw_meta or {})
    metadata.pop("managedFields", None)
    if resource_type.namespaced:
        namespace = metadata.get("namespace") or info.namespace
        if info.namespace is not None and namespace != info.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the "
                "namespace sent on the request"
            )
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    name = metadata.get("name")
    if info.name is not None:
        if name not in (None, "", info.name):
            raise errors.bad_request(
                f"the name of the object ({name}) does not match the name on the URL ({info.name})"
            )
        metadata["name"] = info.name
    _check_metadata(resource_type, metadata)
    return {
        **obj,
        "apiVersion": resource_type.api_version,
        "kind": resource_type.kind,
        "metadata": metadata,
    }


def _check_metadata(resource_type: ResourceType, metadata: dict[str, Any]) -> None:
    name = metadata.get("name")
    causes = []
    if not name and not metadata.get("generateName"):
        causes.append(
            StatusCause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        )
    elif name and (not isinstance(name, str) or len(name) > 253 or not _NAME.fullmatch(name)):
        causes.append(
            StatusCause(
                "FieldValueInvalid",
                f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character",
                "metadata.name",
            )
        )
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and not (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            causes.append(
                StatusCause(
                    "FieldValueInvalid",
                    "Invalid value: must be a map of strings",
                    f"metadata.{field}",
                )
            )
    if causes:
        raise errors.invalid(
            resource_type.kind, resource_type.group_resource, str(name or ""), causes
        )


def check_apply(resource_type: ResourceType, applied: dict[str, Any]) -> None:
    """Type a server-side apply configuration as the real server does before it merges anything.

    A value of the wrong type or a field the kind does not have fails the request whatever its
    field validation, with a 500 (the real server's, for an error it does not classify).
    """
    schema = _builtin_schema(resource_type)
    if schema is None:
        return
    found = decode(schema, applied, Dialect.TYPED)
    if found.errors:
        raise _typed_patch_error(resource_type, applied, found.errors)


def _builtin_schema(resource_type: ResourceType) -> Schema | None:
    return builtin_schema(resource_type.group, resource_type.version, resource_type.kind)


def _builtin_admission(
    resource_type: ResourceType, obj: dict[str, Any], decoding: Decoding
) -> dict[str, Any]:
    """Decode as the real server: wrong types rejected, unknown fields dropped, then required."""
    schema = _builtin_schema(resource_type)
    if schema is None:
        return obj
    found = decode(schema, obj, _DIALECTS[decoding.source])
    if found.errors:
        raise _decoding_error(resource_type, obj, decoding, found.errors)
    if "null" in json.dumps(obj):  # cheap: most objects have no null to drop
        obj = _without_nulls(schema, obj)
    if found.unknown:
        obj = _pruned(resource_type, schema, obj, decoding, verbatim=())
    if found.missing:
        raise _invalid(resource_type, obj, found.missing)
    return obj


def _without_nulls(schema: Schema, value: Any) -> Any:
    """``value`` without the null fields of its structs: the real server decodes a null into a
    field's zero value and does not store it (a nil pointer, map or slice is left out), so a
    client sending ``limits: null`` stores what one leaving it out does."""
    go: GoType = schema.get(GO_TYPE, ANY)
    if go.kind == "struct" and isinstance(value, dict):
        properties: Schema = schema["properties"]
        return {
            key: item if key not in properties else _without_nulls(properties[key], item)
            for key, item in value.items()
            if item is not None
        }
    if go.kind == "map" and isinstance(value, dict):
        items: Schema = schema["additionalProperties"]
        return {key: _without_nulls(items, item) for key, item in value.items()}
    if go.kind == "slice" and isinstance(value, list):
        return [_without_nulls(schema["items"], item) for item in value]
    return value


def _custom_admission(
    resource_type: ResourceType, obj: dict[str, Any], decoding: Decoding
) -> dict[str, Any]:
    """Prune unknown fields, default, then validate against the schema."""
    schema = resource_type.schema or {}
    if not schema:
        return obj
    admitted = apply_defaults(schema, _pruned(resource_type, schema, obj, decoding))
    field_errors = validate(schema, admitted)
    if field_errors:
        raise _invalid(resource_type, obj, field_errors)
    return admitted


def _invalid(
    resource_type: ResourceType, obj: dict[str, Any], field_errors: list[FieldError]
) -> ApiError:
    causes = [StatusCause(e.reason, e.message, e.field) for e in field_errors]
    name = str(meta(obj).get("name", ""))
    return errors.invalid(resource_type.kind, resource_type.group_resource, name, causes)


def _pruned(
    resource_type: ResourceType,
    schema: Schema,
    obj: dict[str, Any],
    decoding: Decoding,
    verbatim: Sequence[str] = ("apiVersion", "kind", "metadata"),
) -> dict[str, Any]:
    """`obj` without its unknown fields: rejected when strict, warned about when warning."""
    unknown: list[str] = []
    pruned = prune(schema, obj, unknown, verbatim=verbatim)
    if unknown and decoding.directive == STRICT:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise errors.bad_request(
            _in_words_of(resource_type, decoding, f"strict decoding error: {fields}")
        )
    if decoding.directive == WARN:
        decoding.warnings.extend(f'unknown field "{path}"' for path in unknown)
    return pruned


def _in_words_of(resource_type: ResourceType, decoding: Decoding, error: str) -> str:
    """A body the decoder refused is a kind that "cannot be handled"; a patch says no more."""
    if decoding.source is not Source.BODY:
        return error
    kind, version = resource_type.kind, resource_type.version
    return f'{kind} in version "{version}" cannot be handled as a {kind}: {error}'


def _decoding_error(
    resource_type: ResourceType, obj: dict[str, Any], decoding: Decoding, found: list[str]
) -> ApiError:
    """The real server's answer to a value its decoder refused: per source, as it words it."""
    if decoding.source is Source.BODY:
        return errors.bad_request(_in_words_of(resource_type, decoding, found[0]))
    if decoding.source is Source.APPLY:
        return _typed_patch_error(resource_type, obj, found)
    if decoding.source is Source.STRATEGIC:
        shown = go_print(json.loads(decoding.patch))
    else:
        shown = json.dumps(obj, separators=(",", ":"))
    cause = StatusCause(
        "FieldValueInvalid", f"Invalid value: {go_quote(shown)}: {found[0]}", "patch"
    )
    return errors.invalid("", _NO_KIND, "", [cause])


def _typed_patch_error(
    resource_type: ResourceType, applied: dict[str, Any], found: list[str]
) -> ApiError:
    """structured-merge-diff's errors, one or a list, about the object it could not type."""
    metadata = meta(applied)
    gvk = f"{resource_type.group}/{resource_type.version}, Kind={resource_type.kind}"
    where = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}; {gvk}"
    listed = found[0] if len(found) == 1 else "\n  ".join(["errors:", *found])
    message = f"failed to create typed patch object ({where}): {listed}"
    return ApiError(errors.Status(500, "", message))


def _secret_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """Secrets store ``stringData`` as base64 ``data`` and default to type Opaque."""
    secret = {**obj, "type": obj.get("type") or "Opaque"}
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict):
        return secret
    data = dict(secret.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    secret["data"] = data
    return secret
