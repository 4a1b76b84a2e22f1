"""Admission: checks and completes an object before the store sees it.

Every write passes here after decoding and patching: the type and name must agree with the
URL and be valid, a CRD must be well formed, a custom resource is pruned, defaulted and
validated against its schema, a Secret's stringData becomes data and a Service gets a cluster
IP. Rejections carry the real server's Status, causes included.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from .. import errors
from ..crds import crd_errors
from ..errors import StatusCause
from ..requestinfo import RequestInfo
from ..resources import CRDS, ResourceType
from ..schema import apply_defaults, prune, validate
from ..store import meta

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


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
        *,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Check and complete an object about to be stored; raise the real server's errors."""
        obj = _with_type_and_name(resource_type, obj, info)
        if resource_type.group_resource == CRDS:
            causes = crd_errors(obj)
            if causes:
                raise errors.invalid(
                    resource_type.kind,
                    resource_type.group_resource,
                    meta(obj).get("name", ""),
                    causes,
                )
        if resource_type.schema is not None:
            obj = _custom_admission(resource_type, obj, strict)
        if resource_type.plural == "secrets" and not resource_type.group:
            obj = _secret_defaults(obj)
        if resource_type.plural == "services" and not resource_type.group:
            obj = self._with_cluster_ip(obj, live)
        return obj

    def _with_cluster_ip(self, obj: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        if spec.get("type") == "ExternalName" or spec.get("clusterIP"):
            return obj
        live_spec = (live or {}).get("spec") or {}
        ip = live_spec.get("clusterIP") or self.cluster_ips.allocate()
        spec = {**spec, "clusterIP": ip, "clusterIPs": [ip]}
        spec.setdefault("type", "ClusterIP")
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


def _custom_admission(
    resource_type: ResourceType, obj: dict[str, Any], strict: bool
) -> dict[str, Any]:
    """Prune unknown fields (rejected when strict), default, then validate against the schema."""
    schema = resource_type.schema or {}
    if not schema:
        return obj
    unknown: list[str] = []
    admitted = apply_defaults(schema, prune(schema, obj, unknown))
    if unknown and strict:
        fields = ", ".join(f'unknown field "{path}"' for path in unknown)
        raise errors.bad_request(
            f'{resource_type.kind} in version "{resource_type.version}" cannot be handled as a '
            f"{resource_type.kind}: strict decoding error: {fields}"
        )
    field_errors = validate(schema, admitted)
    if field_errors:
        causes = [StatusCause(e.reason, e.message, e.field) for e in field_errors]
        raise errors.invalid(
            resource_type.kind, resource_type.group_resource, str(meta(obj).get("name", "")), causes
        )
    return admitted


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
