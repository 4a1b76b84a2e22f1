"""Server-side apply (``application/apply-patch+yaml``) and the field ownership of every write.

Each field manager owns a set of field paths (list elements named by their merge key or
value, as in ``managedFields``). ``server_side_apply`` merges one manager's configuration,
reports fields other managers own as an ApplyConflict unless forced, and removes fields the
manager stopped applying; ``record_update`` hands the fields a POST, PUT or other patch
changed to its manager. Conflicts print their fields as the real server does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from .common import (
    FieldPath,
    JSONObject,
    PatchError,
    copy_json,
    dotted,
    json_equal,
    nesting_guard,
    require_object,
)
from .strategies import Keyed, ListStrategy, Set, Strategies, strategies_of

ManagedFields = dict[str, frozenset[FieldPath]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class FieldConflict:
    """A field another manager owns whose value an apply would change."""

    manager: str
    field: str  # like the real server: .spec.template.spec.containers[name="app"].image

    def __str__(self) -> str:
        return f"conflict with {json.dumps(self.manager)}: {self.field}"


class ApplyConflict(Exception):
    """A server-side apply would change fields other managers own (HTTP 409)."""

    def __init__(self, fields: list[FieldConflict]) -> None:
        self.fields = fields
        self.conflicts = [str(conflict) for conflict in fields]
        super().__init__(_conflict_message(fields))


def _conflict_message(fields: list[FieldConflict]) -> str:
    count = len(fields)
    prefix = f"Apply failed with {count} conflict{'s' if count != 1 else ''}: "
    if count == 1:
        return prefix + str(fields[0])
    by_manager: dict[str, list[str]] = {}
    for conflict in fields:
        by_manager.setdefault(conflict.manager, []).append(conflict.field)
    parts = []
    for manager in sorted(by_manager):
        paths = by_manager[manager]
        listing = f" {paths[0]}" if len(paths) == 1 else "".join(f"\n- {p}" for p in paths)
        parts.append(f"conflicts with {json.dumps(manager)}:{listing}")
    return prefix + "\n".join(parts)


# Fields the server maintains or that identify the object: nobody owns them.
_UNOWNED_TOP_LEVEL: Final = frozenset({"apiVersion", "kind", "status"})
_UNOWNED_METADATA: Final = frozenset({"name", "namespace", "generateName"})
_SERVER_METADATA: Final = frozenset(
    {
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
_ELEMENT: Final = object()  # value recorded for a keyed list element itself (never conflicts)
_MISSING: Final = object()


@nesting_guard
def server_side_apply(
    live: JSONObject | None,
    managed: ManagedFields,
    applied: Any,
    manager: str,
    force: bool,
) -> tuple[JSONObject, ManagedFields]:
    """Applies a configuration for one field manager; returns the new object and ownership.

    Creates the object when live is None. Fields the manager applied before but no longer does
    are removed unless another manager owns them. Changing a field another manager owns raises
    ApplyConflict unless force, which moves its ownership to this manager. ``status``, the
    resourceVersion precondition and other server-maintained metadata are not applied.
    """
    config = _apply_config(require_object(applied, "an apply configuration"))
    strategies = strategies_of(config)
    applied_fields = _owned_fields(config, strategies, strict=True)
    current = copy_json(live) if live is not None else {}
    conflicts = _conflicts(applied_fields, _owned_fields(current, strategies), managed, manager)
    if conflicts and not force:
        raise ApplyConflict([FieldConflict(m, _format_path(p)) for m, p in conflicts])
    result = _ssa_merge(current, config, (), strategies)
    taken: dict[str, set[FieldPath]] = {}
    for other, path in conflicts:
        taken.setdefault(other, set()).add(path)
    ownership = {
        other: owned - taken.get(other, set())
        for other, owned in managed.items()
        if other != manager
    }
    ownership[manager] = frozenset(applied_fields)
    _remove_dropped(result, managed.get(manager, frozenset()) - applied_fields.keys(), ownership)
    return result, {name: owned for name, owned in ownership.items() if owned}


@nesting_guard
def record_update(
    old: JSONObject | None, new: JSONObject, managed: ManagedFields, manager: str
) -> ManagedFields:
    """Ownership after a POST/PUT/PATCH by manager: it takes every field it set or changed.

    Other managers lose those fields, and everybody loses fields that no longer exist.
    """
    strategies = strategies_of(new)
    new_fields = _owned_fields(new, strategies)
    old_fields = _owned_fields(old, strategies) if old is not None else {}
    changed = {
        path
        for path, value in new_fields.items()
        if path not in old_fields or not _same_field_value(old_fields[path], value)
    }
    ownership = {
        name: owned.intersection(new_fields) - changed
        for name, owned in managed.items()
        if name != manager
    }
    ownership[manager] = managed.get(manager, frozenset()).intersection(new_fields) | changed
    return {name: frozenset(owned) for name, owned in ownership.items() if owned}


def _same_field_value(old: Any, new: Any) -> bool:
    if old is _ELEMENT or new is _ELEMENT:
        return old is new
    return json_equal(old, new)


def _apply_config(applied: JSONObject) -> JSONObject:
    """A private copy of the applied configuration without nulls, status and server metadata."""
    config = _without_nulls({k: v for k, v in applied.items() if k != "status"})
    metadata = config.get("metadata")
    if isinstance(metadata, dict):
        config["metadata"] = {k: v for k, v in metadata.items() if k not in _SERVER_METADATA}
    return config


def _without_nulls(value: _T) -> _T:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}  # type: ignore[return-value]
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]  # type: ignore[return-value]
    return value


def _owned_fields(
    obj: JSONObject, strategies: Strategies, *, strict: bool = False
) -> dict[FieldPath, Any]:
    """Every ownable field path of obj with its value (_ELEMENT for keyed list elements).

    Leaves are scalars, atomic lists and members of set lists; maps are not owned themselves.
    strict: a keyed list whose items lack their merge key is an error rather than atomic.
    """
    view = {k: v for k, v in obj.items() if k not in _UNOWNED_TOP_LEVEL}
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        unowned = _UNOWNED_METADATA | _SERVER_METADATA
        view["metadata"] = {k: v for k, v in metadata.items() if k not in unowned}
    fields: dict[FieldPath, Any] = {}
    _collect(view, (), (), strategies, fields, strict)
    return fields


def _collect(
    value: Any,
    schema: FieldPath,
    path: FieldPath,
    strategies: Strategies,
    fields: dict[FieldPath, Any],
    strict: bool,
) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _collect(child, (*schema, key), (*path, key), strategies, fields, strict)
        return
    strategy = strategies.get(schema) if isinstance(value, list) else None
    segments = _element_segments(value, strategy, schema, strict)
    if segments is None:
        fields[path] = value
        return
    for segment, item in zip(segments, value, strict=True):
        if isinstance(strategy, Keyed):
            fields[(*path, segment)] = _ELEMENT
            _collect(item, schema, (*path, segment), strategies, fields, strict)
        else:
            fields[(*path, segment)] = item


def _element_segments(
    value: Any, strategy: ListStrategy, schema: FieldPath, strict: bool
) -> list[str] | None:
    """Path segments of a merged list's elements; None when the list is atomic.

    Keyed elements are ``k:<key>=<value>``, set members ``v:<json>``. A list whose elements
    lack their key or repeat one is atomic (or an error when strict).
    """
    if strategy is None or not isinstance(value, list):
        return None
    if isinstance(strategy, Set):
        return [f"v:{json.dumps(item, sort_keys=True)}" for item in value]
    segments = [_key_segment(item, strategy.key) for item in value]
    if None in segments or len(set(segments)) != len(segments):
        if strict:
            raise PatchError(
                f"items of {dotted(schema)} need distinct values of merge key {strategy.key!r}"
            )
        return None
    return [segment for segment in segments if segment is not None]


def _key_segment(item: Any, key: str) -> str | None:
    if not isinstance(item, dict) or item.get(key) is None:
        return None
    value = item[key]
    return f"k:{key}={value if isinstance(value, str) else json.dumps(value)}"


def _conflicts(
    applied: dict[FieldPath, Any],
    live: dict[FieldPath, Any],
    managed: ManagedFields,
    manager: str,
) -> list[tuple[str, FieldPath]]:
    """(other manager, its field) pairs an apply would change.

    A field conflicts when its live value differs from the applied one and another manager owns
    it, owns something below it (a map becomes a scalar) or owns a leaf above it.
    """
    changing = [
        path
        for path, value in applied.items()
        if value is not _ELEMENT and not json_equal(live.get(path, _MISSING), value)
    ]
    conflicts: list[tuple[str, FieldPath]] = []
    for other in sorted(managed):
        owned = managed[other]
        if other == manager or not owned:
            continue
        below: dict[FieldPath, list[FieldPath]] = {}
        for field in owned:
            for depth in range(1, len(field)):
                below.setdefault(field[:depth], []).append(field)
        found: set[FieldPath] = set()
        for path in changing:
            found.update(below.get(path, []))
            found.update(
                path[:depth]
                for depth in range(1, len(path) + 1)
                if path[:depth] in owned and live.get(path[:depth]) is not _ELEMENT
            )
        conflicts.extend((other, field) for field in sorted(found))
    return conflicts


def _ssa_merge(
    live: JSONObject, config: JSONObject, schema: FieldPath, strategies: Strategies
) -> JSONObject:
    """Merges a (private) apply configuration into live in place."""
    for key, value in config.items():
        child = (*schema, key)
        current = live.get(key)
        if isinstance(value, dict):
            live[key] = _ssa_merge(
                current if isinstance(current, dict) else {}, value, child, strategies
            )
        elif isinstance(value, list):
            live[key] = _ssa_merge_list(current, value, child, strategies)
        else:
            live[key] = value
    return live


def _ssa_merge_list(
    current: Any, value: list[Any], schema: FieldPath, strategies: Strategies
) -> list[Any]:
    strategy = strategies.get(schema)
    live_segments = _element_segments(current, strategy, schema, strict=False)
    if live_segments is None or not isinstance(current, list):
        return value
    if isinstance(strategy, Set):
        seen = set(live_segments)
        added = []
        for segment, item in zip(
            _element_segments(value, strategy, schema, True) or [], value, strict=True
        ):
            if segment not in seen:
                seen.add(segment)
                added.append(item)
        return current + added
    result = list(current)
    positions = {segment: index for index, segment in enumerate(live_segments)}
    for segment, item in zip(
        _element_segments(value, strategy, schema, True) or [], value, strict=True
    ):
        if segment in positions:
            result[positions[segment]] = _ssa_merge(
                result[positions[segment]], item, schema, strategies
            )
        else:
            result.append(item)
    return result


def _remove_dropped(
    obj: JSONObject, dropped: Iterable[FieldPath], ownership: Mapping[str, Iterable[FieldPath]]
) -> None:
    """Removes fields the manager stopped applying, unless someone owns them or below them.

    Whole list elements go first (shallow paths before deep ones), and the merge key of an
    element that stays is never removed: it is the element's identity.
    """
    still_owned: set[FieldPath] = set()
    for owned in ownership.values():
        for field in owned:
            still_owned.update(field[:depth] for depth in range(1, len(field) + 1))
    for path in sorted(dropped, key=len):
        if path not in still_owned and not _is_merge_key(path):
            _remove_field(obj, path)


def _is_merge_key(path: FieldPath) -> bool:
    return len(path) >= 2 and path[-2].startswith("k:") and path[-2][2:].startswith(path[-1] + "=")


def _remove_field(obj: JSONObject, path: FieldPath) -> None:
    """Removes one field path and the maps and lists it leaves empty. Missing paths are fine."""
    chain: list[tuple[Any, str]] = []
    current: Any = obj
    for segment in path:
        chain.append((current, segment))
        current = _child(current, segment)
        if current is _MISSING:
            return
    for container, segment in reversed(chain):
        if isinstance(container, dict):
            del container[segment]
            if container or container is obj:
                return
        else:
            container[:] = [item for item in container if _segment_of(item, segment) != segment]
            if container:
                return


def _child(container: Any, segment: str) -> Any:
    if isinstance(container, dict):
        return container.get(segment, _MISSING)
    if isinstance(container, list):
        return next((item for item in container if _segment_of(item, segment) == segment), _MISSING)
    return _MISSING


def _segment_of(item: Any, segment: str) -> str | None:
    """The segment of a list item in the same form as segment (keyed or set member)."""
    if segment.startswith("k:"):
        return _key_segment(item, segment[2:].partition("=")[0])
    return f"v:{json.dumps(item, sort_keys=True)}"


def _format_path(path: FieldPath) -> str:
    """A field path as the real server prints it: .spec.containers[name="app"].image."""
    parts = []
    for segment in path:
        if segment.startswith("k:"):
            key, _, value = segment[2:].partition("=")
            parts.append(f"[{key}={value if _is_json_number(value) else json.dumps(value)}]")
        elif segment.startswith("v:"):
            parts.append(f"[={segment[2:]}]")
        else:
            parts.append("." + segment)
    return "".join(parts)


def _is_json_number(text: str) -> bool:
    try:
        return isinstance(json.loads(text), int | float)
    except ValueError:
        return False
