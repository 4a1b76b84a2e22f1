"""Events: one stored object, served as core/v1 and as events.k8s.io/v1.

A real server keeps one Event (the core type) and converts it for either API, so an Event
the operator posts at events.k8s.io/v1 is what ``kubectl describe`` and ``kubectl get
events`` list at core/v1, at the same resourceVersion, and the reverse. The field pairs are
those of k8s.io/kubernetes pkg/apis/events/v1's conversion: note and message, regarding and
involvedObject, deprecatedSource and source, deprecatedFirstTimestamp/LastTimestamp/Count
and firstTimestamp/lastTimestamp/count, reportingController and reportingComponent; the rest
(eventTime, series, action, reason, related, reportingInstance, type) keep their names.

Objects are stored in the core/v1 form, shaped as the real server serialises the Go type: the
fields without ``omitempty`` (or that are structs) are always there, empty or null, the others
only when set. Field selectors read the stored form, under the labels of each API (the real
server's field label conversions and its ``EventToSelectableFields``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .selectors import FieldReader

CORE_API_VERSION = "v1"
EVENTS_API_VERSION = "events.k8s.io/v1"

_CORE_TO_EVENTS = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_EVENTS_TO_CORE = {events: core for core, events in _CORE_TO_EVENTS.items()}

_OMITTED = "omitted"
"""An unset field left out (``omitempty``: a scalar or a pointer)."""
_NULL = "null"
"""An unset time: a struct whose JSON is null, never left out."""

_CORE_FIELDS: tuple[tuple[str, Any], ...] = (
    ("involvedObject", {}),
    ("reason", _OMITTED),
    ("message", _OMITTED),
    ("source", {}),
    ("firstTimestamp", _NULL),
    ("lastTimestamp", _NULL),
    ("count", _OMITTED),
    ("type", _OMITTED),
    ("eventTime", _NULL),
    ("series", _OMITTED),
    ("action", _OMITTED),
    ("related", _OMITTED),
    ("reportingComponent", ""),
    ("reportingInstance", ""),
)
_EVENTS_FIELDS: tuple[tuple[str, Any], ...] = (
    ("eventTime", _NULL),
    ("series", _OMITTED),
    ("reportingController", _OMITTED),
    ("reportingInstance", _OMITTED),
    ("action", _OMITTED),
    ("reason", _OMITTED),
    ("regarding", {}),
    ("related", _OMITTED),
    ("note", _OMITTED),
    ("type", _OMITTED),
    ("deprecatedSource", {}),
    ("deprecatedFirstTimestamp", _NULL),
    ("deprecatedLastTimestamp", _NULL),
    ("deprecatedCount", _OMITTED),
)
"""Each version's fields in its Go type's order, with what an unset one serialises as."""


def _is_unset(value: Any) -> bool:
    """Go's zero value: nothing, "", 0 or an empty struct (false is a value)."""
    return not isinstance(value, bool) and value in (None, "", 0, {})


def _shaped(
    obj: Mapping[str, Any],
    api_version: str,
    fields: tuple[tuple[str, Any], ...],
    rename: Mapping[str, str],
) -> dict[str, Any]:
    """``obj``'s Event fields under the names of the other version (``rename``: source name
    to target name), laid out as that version's Go type serialises."""
    values = {rename.get(key, key): value for key, value in obj.items()}
    shaped: dict[str, Any] = {"kind": "Event", "apiVersion": api_version}
    if "metadata" in obj:
        shaped["metadata"] = obj["metadata"]
    for field, unset in fields:
        value = values.get(field)
        if not _is_unset(value):
            shaped[field] = value
        elif unset is _NULL:
            shaped[field] = None
        elif unset is not _OMITTED:
            shaped[field] = unset
    return shaped


def to_core(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A core/v1 Event (as written at core/v1) in its stored form."""
    return _shaped(obj, CORE_API_VERSION, _CORE_FIELDS, {})


def events_to_core(obj: Mapping[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as the core/v1 Event stored for it."""
    return _shaped(obj, CORE_API_VERSION, _CORE_FIELDS, _EVENTS_TO_CORE)


def core_to_events(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A stored (core/v1) Event as events.k8s.io/v1 serves it."""
    return _shaped(obj, EVENTS_API_VERSION, _EVENTS_FIELDS, _CORE_TO_EVENTS)


# --- field selectors ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _member(*path: str) -> FieldReader:
    def read(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return _text(value)

    return read


def _source(obj: Mapping[str, Any]) -> str:
    """The source component, else the reporting controller (as the real server selects)."""
    return _member("source", "component")(obj) or _text(obj.get("reportingComponent"))


_REFERENCE_FIELDS = (
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
)

CORE_FIELD_LABELS: Mapping[str, FieldReader] = {
    **{f"involvedObject.{key}": _member("involvedObject", key) for key in _REFERENCE_FIELDS},
    "reason": _member("reason"),
    "reportingComponent": _member("reportingComponent"),
    "source": _source,
    "type": _member("type"),
    "metadata.namespace": _member("metadata", "namespace"),
    "metadata.name": _member("metadata", "name"),
}
"""core/v1 Events' field labels, read from the stored form."""

EVENTS_FIELD_LABELS: Mapping[str, FieldReader] = {
    **{f"regarding.{key}": CORE_FIELD_LABELS[f"involvedObject.{key}"] for key in _REFERENCE_FIELDS},
    "reason": CORE_FIELD_LABELS["reason"],
    "reportingController": CORE_FIELD_LABELS["reportingComponent"],
    "source": CORE_FIELD_LABELS["source"],
    "type": CORE_FIELD_LABELS["type"],
    "metadata.namespace": CORE_FIELD_LABELS["metadata.namespace"],
    "metadata.name": CORE_FIELD_LABELS["metadata.name"],
}
"""events.k8s.io/v1 Events' field labels: each one converted to the core field it reads."""

_FIELD_LABELS: Mapping[tuple[str, str], Mapping[str, FieldReader]] = {
    ("", "events"): CORE_FIELD_LABELS,
    ("events.k8s.io", "events"): EVENTS_FIELD_LABELS,
}


def field_labels(group: str, resource: str) -> Mapping[str, FieldReader] | None:
    """The field labels a list or watch of ``resource`` may select on, beyond metadata's;
    None for a resource that has only metadata.name and metadata.namespace."""
    return _FIELD_LABELS.get((group, resource))
