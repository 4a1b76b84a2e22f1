"""Discovery (legacy form) and the minimal OpenAPI v3 documents clients need.

Clients cache both by ``hash``; a document's hash is derived from its content, so
it changes exactly when a CRD adds, changes or removes a kind or changes a schema.
Custom kinds publish their schema under ``components.schemas`` (named like the real
server's, ``<reversed group>.<version>.<Kind>``), which is what ``kubectl explain`` reads.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import ALL_VERBS, SUBRESOURCE_VERBS, Registry, ResourceType

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _groups(registry: Registry) -> dict[str, list[str]]:
    """Served versions by API group (the core group left out)."""
    groups: dict[str, list[str]] = {}
    for group_version in registry.group_versions():
        group, _, version = group_version.rpartition("/")
        if group:
            groups.setdefault(group, []).append(version)
    return groups


def api_group_list(registry: Registry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_api_group(name, versions) for name, versions in _groups(registry).items()],
    }


def api_group(registry: Registry, name: str) -> dict[str, Any] | None:
    versions = _groups(registry).get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(name, versions)}


def _api_group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_resource_list(registry: Registry, group_version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group_version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for resource_type in types:
        resources.append(_api_resource(resource_type))
        resources.extend(_subresource(resource_type, sub) for sub in resource_type.subresources)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def _api_resource(resource_type: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": resource_type.plural,
        "singularName": resource_type.singular,
        "namespaced": resource_type.namespaced,
        "kind": resource_type.kind,
        "verbs": list(ALL_VERBS),
    }
    if resource_type.short_names:
        entry["shortNames"] = list(resource_type.short_names)
    if resource_type.categories:
        entry["categories"] = list(resource_type.categories)
    return entry


def _subresource(resource_type: ResourceType, subresource: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": f"{resource_type.plural}/{subresource}",
        "singularName": "",
        "namespaced": resource_type.namespaced,
        "kind": resource_type.kind,
        "verbs": list(SUBRESOURCE_VERBS),
    }
    if subresource == "scale":  # an autoscaling/v1 Scale, whatever the resource's group
        entry.update(group="autoscaling", version="v1", kind="Scale")
    return entry


class OpenApi:
    """Minimal OpenAPI v3 documents: one PATCH operation per kind with ``fieldValidation``,
    and the schemas of custom kinds.

    The PATCH parameters are what make helm and kubectl skip client-side validation and
    send ``fieldValidation=Strict``; kubectl still validates the items of a ``List``
    against OpenAPI v2 (``openapi_v2``).
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._cache: dict[str, tuple[int, bytes, str]] = {}

    def root(self) -> dict[str, Any]:
        paths = {}
        for group_version in self._registry.group_versions():
            _, digest = self.document(group_version) or (b"", "")
            prefix = _url_prefix(group_version)
            paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest}"}
        return {"paths": paths}

    def document(self, group_version: str) -> tuple[bytes, str] | None:
        """The serialised document of a group/version and its hash; None when not served."""
        generation = self._registry.gv_generation(group_version)
        cached = self._cache.get(group_version)
        if cached is not None and cached[0] == generation:
            return cached[1], cached[2]
        types = self._registry.in_group_version(group_version)
        if not types:
            return None
        body = json.dumps(_gv_document(types), sort_keys=True).encode()
        digest = hashlib.sha512(body).hexdigest().upper()
        self._cache[group_version] = (generation, body, digest)
        return body, digest


def _url_prefix(group_version: str) -> str:
    return f"apis/{group_version}" if "/" in group_version else f"api/{group_version}"


def _gv_document(types: list[ResourceType]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for resource_type in types:
        prefix = "/" + _url_prefix(resource_type.api_version)
        scope = "/namespaces/{namespace}" if resource_type.namespaced else ""
        gvk = {
            "group": resource_type.group,
            "version": resource_type.version,
            "kind": resource_type.kind,
        }
        paths[f"{prefix}{scope}/{resource_type.plural}/{{name}}"] = {
            "patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
        if resource_type.schema is not None:
            schemas[schema_name(resource_type)] = {
                **resource_type.schema,
                "x-kubernetes-group-version-kind": [gvk],
            }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def schema_name(resource_type: ResourceType) -> str:
    """The real server's component name of a custom kind: works.weave.flux.v1beta1.HelmRelease."""
    reversed_group = ".".join(reversed(resource_type.group.split(".")))
    return f"{reversed_group}.{resource_type.version}.{resource_type.kind}"
