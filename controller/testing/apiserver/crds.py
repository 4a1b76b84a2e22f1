"""CustomResourceDefinitions: checking them, serving their kinds, and their status.

A CRD is Established the moment it is stored: its served versions appear in the
registry (hence in discovery and OpenAPI) and its status gets the Established and
NamesAccepted conditions. Deleting a CRD removes its kinds and every custom object.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import StatusCause
from .resources import CRDS, GroupResource, Registry, ResourceType
from .schema import structural_errors
from .store import Store, WatchEvent, meta, now_rfc3339

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def _spec(crd: dict[str, Any]) -> dict[str, Any]:
    spec = crd.get("spec")
    return spec if isinstance(spec, dict) else {}


def _names(crd: dict[str, Any]) -> dict[str, Any]:
    names = _spec(crd).get("names")
    return names if isinstance(names, dict) else {}


def _versions(crd: dict[str, Any]) -> list[dict[str, Any]]:
    versions = _spec(crd).get("versions")
    if not isinstance(versions, list):
        return []
    return [v for v in versions if isinstance(v, dict)]


def crd_errors(crd: dict[str, Any]) -> list[StatusCause]:
    """What the real server would reject in a CRD, as 422 causes."""
    causes: list[StatusCause] = []

    def add(field: str, message: str) -> None:
        causes.append(StatusCause("FieldValueInvalid", message, field))

    spec, names = _spec(crd), _names(crd)
    group, plural = spec.get("group"), names.get("plural")
    if not isinstance(group, str) or "." not in group:
        add("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot')
    if not isinstance(plural, str) or not _DNS_LABEL.fullmatch(plural):
        add("spec.names.plural", f'Invalid value: "{plural}": a lowercase RFC 1123 label')
    if not isinstance(names.get("kind"), str) or not names.get("kind"):
        add("spec.names.kind", "Required value")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        add("spec.scope", 'Unsupported value: supported values: "Cluster", "Namespaced"')
    name = meta(crd).get("name")
    if name != f"{plural}.{group}":
        add("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    versions = _versions(crd)
    if not versions:
        add("spec.versions", "Invalid value: must have exactly one version marked as storage")
    elif sum(1 for v in versions if v.get("storage") is True) != 1:
        add(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        )
    for index, version in enumerate(versions):
        schema = _version_schema(version)
        for message in structural_errors(schema) if schema else ():
            add(f"spec.versions[{index}].schema.openAPIV3Schema", message)
    return causes


def _version_schema(version: dict[str, Any]) -> dict[str, Any]:
    schema = version.get("schema")
    if isinstance(schema, dict) and isinstance(schema.get("openAPIV3Schema"), dict):
        return dict(schema["openAPIV3Schema"])
    return {}


def served_types(crd: dict[str, Any]) -> list[ResourceType]:
    spec, names = _spec(crd), _names(crd)
    kind = str(names.get("kind", ""))
    types = []
    for version in _versions(crd):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources")
        types.append(
            ResourceType(
                group=str(spec.get("group", "")),
                version=str(version.get("name", "")),
                plural=str(names.get("plural", "")),
                singular=str(names.get("singular") or kind.lower()),
                kind=kind,
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(str(n) for n in names.get("shortNames") or ()),
                categories=tuple(str(c) for c in names.get("categories") or ()),
                has_status=isinstance(subresources, dict) and "status" in subresources,
                schema=_version_schema(version),
            )
        )
    return types


class CrdController:
    """Keeps the registry and CRD statuses in step with the stored CRDs."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._served: dict[str, list[ResourceType]] = {}
        store.add_listener(self._on_event)

    def _on_event(self, event: WatchEvent) -> None:
        if event.resource != CRDS:
            return
        name = meta(event.obj)["name"]
        if event.type == "DELETED":
            self._unserve(name)
            plural, _, group = name.partition(".")
            self._store.purge(GroupResource(group, plural))
            return
        self._unserve(name)
        types = served_types(event.obj)
        for resource_type in types:
            self._registry.add(resource_type)
        self._served[name] = types
        self._establish(event.obj)

    def _unserve(self, name: str) -> None:
        for resource_type in self._served.pop(name, []):
            self._registry.remove(resource_type.group, resource_type.version, resource_type.plural)

    def _establish(self, crd: dict[str, Any]) -> None:
        status = crd.get("status") if isinstance(crd.get("status"), dict) else {}
        assert isinstance(status, dict)
        names = dict(_names(crd))
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        stored = [v["name"] for v in _versions(crd) if v.get("storage") is True]
        wanted = {
            **status,
            "acceptedNames": names,
            "conditions": _conditions(status.get("conditions")),
            "storedVersions": sorted(set(status.get("storedVersions") or []) | set(stored)),
        }
        if wanted != status:
            entry = self._store.get(CRDS, "", meta(crd)["name"])
            assert entry is not None
            self._store.update(
                CRDS,
                {**crd, "status": wanted},
                entry.managed,
                subresource="status",
            )


def _conditions(current: Any) -> list[dict[str, Any]]:
    """NamesAccepted and Established True, keeping transition times already recorded."""
    existing = {c.get("type"): c for c in current or [] if isinstance(c, dict)}
    result = []
    for kind, reason, message in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ):
        old = existing.get(kind)
        if old is not None and old.get("status") == "True":
            result.append(old)
        else:
            result.append(
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now_rfc3339(),
                }
            )
    return result
