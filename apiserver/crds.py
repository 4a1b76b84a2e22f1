"""CustomResourceDefinitions: checking them, serving their kinds, and their status.

A CRD is Established the moment it is stored: its served versions appear in the
registry (hence in discovery and OpenAPI) and its status gets the Established and
NamesAccepted conditions. Deleting a CRD removes its kinds and every custom object.
Its ``additionalPrinterColumns`` become the cells of the Tables ``kubectl get`` asks
for (a version without any gets the Age column; built-in kinds have their own, ``printers``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import StatusCause
from .resources import CRDS, GroupResource, Registry, ResourceType
from .schema import FieldError, structural_errors
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
    problems: list[FieldError] = []

    def add(field: str, message: str) -> None:
        # The message starts with the error type ("Required value: ..."), as on the real server.
        problems.append(FieldError(field, message.partition(": ")[0], message))

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
            relative, _, body = message.partition(": ")
            add(f"spec.versions[{index}].schema.openAPIV3Schema.{relative}", body)
    return [StatusCause(p.reason, p.message, p.field) for p in problems]


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


# --- printer columns ------------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry: a Table column and where its cells come from."""

    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        """The column's entry in a Table's ``columnDefinitions``."""
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


NAME_COLUMN = PrinterColumn(
    "Name", "string", ".metadata.name", "Name must be unique within a namespace.", "name"
)
"""The first column of every Table."""
AGE_COLUMN = PrinterColumn(
    "Age",
    "date",
    ".metadata.creationTimestamp",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def printer_columns(crd: dict[str, Any], version: str) -> tuple[PrinterColumn, ...]:
    """The printer columns of one version of ``crd``; just Age when it declares none."""
    entry = next((v for v in _versions(crd) if v.get("name") == version), {})
    declared = entry.get("additionalPrinterColumns")
    columns = tuple(
        PrinterColumn(
            name=str(column.get("name", "")),
            type=str(column.get("type", "string")),
            json_path=str(column.get("jsonPath", "")),
            description=str(column.get("description", "")),
            format=str(column.get("format", "")),
            priority=column["priority"] if isinstance(column.get("priority"), int) else 0,
        )
        for column in declared or ()
        if isinstance(column, dict)
    )
    return columns or (AGE_COLUMN,)


def cell(column: PrinterColumn, obj: dict[str, Any], now: datetime) -> Any:
    """The Table cell of ``column`` for ``obj``, typed like the real server's (None: empty)."""
    value = next(json_path(column.json_path, obj), None)
    if value is None:
        return None
    if column.type == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if column.type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column.type == "boolean" and isinstance(value, bool):
        return value
    if column.type == "date" and isinstance(value, str):
        return _age(value, now)
    return None


_STEP = re.compile(
    r"""\.(?P<field>[^.\[]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[\?\(@\.(?P<key>[^=!\s]+)\s*==\s*(?P<quote>["'])(?P<value>.*?)(?P=quote)\)\]"""
)


def json_path(path: str, obj: Any) -> Iterator[Any]:
    """The values a printer column's JSONPath selects, in order; nothing for a path outside
    the supported subset (``.a.b``, ``.a[0]``, ``.a[?(@.type=="Ready")].status``)."""
    steps = []
    position = 0
    while position < len(path):
        step = _STEP.match(path, position)
        if step is None:
            return
        steps.append(step)
        position = step.end()
    values = [obj] if steps else []
    for step in steps:
        values = [found for value in values for found in _follow(step, value)]
    yield from values


def _follow(step: re.Match[str], value: Any) -> Iterator[Any]:
    if step["field"] is not None:
        if isinstance(value, dict) and step["field"] in value:
            yield value[step["field"]]
    elif step["index"] is not None:
        index = int(step["index"])
        if isinstance(value, list) and -len(value) <= index < len(value):
            yield value[index]
    elif isinstance(value, list):
        for item in value:
            found = next(json_path("." + step["key"], item), None)
            if found is not None and _as_text(found) == step["value"]:
                yield item


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _age(timestamp: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "<invalid>"
    if then.tzinfo is None:
        return "<invalid>"
    return human_duration((now - then).total_seconds())


def human_duration(seconds: float) -> str:
    """How kubectl shows an age: 45s, 3m20s, 5h, 2d3h, 1y20d."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if minutes < 10:
        return _pair(minutes, "m", whole % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _pair(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return _pair(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _pair(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _pair(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}{minor}{minor_unit}" if minor else f"{major}{major_unit}"
