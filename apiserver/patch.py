"""The patch algorithms of the in-memory API server, as pure functions on JSON-like dicts.

- ``apply_json_patch``: RFC 6902 (``application/json-patch+json``).
- ``apply_merge_patch``: RFC 7386 (``application/merge-patch+json``).
- ``apply_strategic_merge_patch``: Kubernetes strategic merge patch for the built-in kinds
  charts use (``application/strategic-merge-patch+json``).
- ``server_side_apply`` and ``record_update``: field ownership for ``application/apply-patch+yaml``
  and for the other writes.

No function mutates its inputs: each copies the object once and works on the copy; values
taken from a patch are copied too, so the result shares nothing with the arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache, wraps
from types import MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar

__all__ = [
    "ApplyConflict",
    "FieldConflict",
    "FieldPath",
    "ManagedFields",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "record_update",
    "server_side_apply",
    "supports_strategic_merge",
]

JSONObject = dict[str, Any]
FieldPath = tuple[str, ...]
ManagedFields = dict[str, frozenset[FieldPath]]
_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class PatchError(ValueError):
    """The patch is invalid or cannot be applied to the object."""


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


# --- shared helpers --------------------------------------------------------------------------


def _copy(value: _T) -> _T:
    """Deep copy of JSON-like data (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {key: _copy(child) for key, child in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [_copy(child) for child in value]  # type: ignore[return-value]
    return value


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(_json_equal(value, right[key]) for key, value in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


def _nesting_guard(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turns the RecursionError of an absurdly deep document into a PatchError."""

    @wraps(function)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except RecursionError:
            raise PatchError("the object or patch is nested too deeply") from None

    return guarded


def _require_object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise PatchError(f"{what} must be a JSON object")
    return value


def _dotted(path: FieldPath) -> str:
    return "." + ".".join(path) if path else "the object"


# --- RFC 6902 JSON patch ---------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"~(?![01])")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_ROOT = ""  # the document lives in a holder dict under this key, so "" paths need no special case


@_nesting_guard
def apply_json_patch(obj: JSONObject, ops: Any) -> JSONObject:
    """Applies an RFC 6902 JSON patch (a list of operations) to a copy of obj."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a JSON array of operations")
    holder: JSONObject = {_ROOT: _copy(obj)}
    for number, op in enumerate(ops):
        _apply_operation(holder, _require_object(op, f"JSON patch operation {number}"))
    result = holder.get(_ROOT)
    if not isinstance(result, dict):
        raise PatchError("the JSON patch does not leave a JSON object")
    return result


def _apply_operation(holder: JSONObject, op: JSONObject) -> None:
    name = op.get("op")
    path = _pointer(op, "path")
    if name == "add":
        _add(holder, path, _copy(_operand(op)))
    elif name == "remove":
        _remove(holder, path)
    elif name == "replace":
        _get(holder, path)  # the target must exist
        _remove(holder, path)
        _add(holder, path, _copy(_operand(op)))
    elif name == "move":
        source = _pointer(op, "from")
        if len(path) > len(source) and path[: len(source)] == source:
            raise PatchError(f"cannot move {op['from']!r} into its own child {op['path']!r}")
        _add(holder, path, _remove(holder, source))
    elif name == "copy":
        _add(holder, path, _copy(_get(holder, _pointer(op, "from"))))
    elif name == "test":
        if not _json_equal(_get(holder, path), _operand(op)):
            raise PatchError(f"test operation failed at {op['path']!r}")
    else:
        raise PatchError(f"unknown JSON patch operation {name!r}")


def _operand(op: JSONObject) -> Any:
    if "value" not in op:
        raise PatchError(f"JSON patch operation {op.get('op')!r} needs a 'value'")
    return op["value"]


def _pointer(op: JSONObject, member: str) -> list[str]:
    """Parses a JSON pointer (RFC 6901) into tokens, prefixed with the holder's root key."""
    pointer = op.get(member)
    if not isinstance(pointer, str):
        raise PatchError(f"JSON patch operation {op.get('op')!r} needs a string {member!r}")
    if pointer == "":
        return [_ROOT]
    if not pointer.startswith("/") or _BAD_ESCAPE.search(pointer):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    tokens = [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]
    return [_ROOT, *tokens]


def _list_index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    limit = len(container) + 1 if allow_end else len(container)
    if not _ARRAY_INDEX.fullmatch(token) or int(token) >= limit:
        raise PatchError(f"array index {token!r} is out of range or invalid")
    return int(token)


def _parent(holder: JSONObject, tokens: list[str]) -> Any:
    current: Any = holder
    for depth, token in enumerate(tokens[:-1]):
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_list_index(current, token, allow_end=False)]
        else:
            raise PatchError(f"path {_pointer_text(tokens[: depth + 1])!r} does not exist")
    return current


def _pointer_text(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[1:])


def _get(holder: JSONObject, tokens: list[str]) -> Any:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_list_index(parent, last, allow_end=False)]
    raise PatchError(f"path {_pointer_text(tokens)!r} does not exist")


def _add(holder: JSONObject, tokens: list[str], value: Any) -> None:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add below a scalar at {_pointer_text(tokens)!r}")


def _remove(holder: JSONObject, tokens: list[str]) -> Any:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_list_index(parent, last, allow_end=False))
    raise PatchError(f"path {_pointer_text(tokens)!r} does not exist")


# --- RFC 7386 merge patch --------------------------------------------------------------------


@_nesting_guard
def apply_merge_patch(obj: JSONObject, patch: Any) -> JSONObject:
    """Applies an RFC 7386 merge patch: null deletes, objects merge, anything else replaces."""
    result = _copy(obj)
    _merge_into(result, _require_object(patch, "a merge patch of an object"))
    return result


def _merge_into(target: JSONObject, patch: JSONObject) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            child = target.get(key)
            if not isinstance(child, dict):
                child = target[key] = {}
            _merge_into(child, value)
        else:
            target[key] = _copy(value)


# --- list strategies of the built-in kinds ---------------------------------------------------


@dataclass(frozen=True)
class _Keyed:
    """A list of objects merged element by element, matched on one key."""

    key: str


@dataclass(frozen=True)
class _Set:
    """A list of scalars merged as a set (finalizers)."""


_ListStrategy = _Keyed | _Set | None  # None: atomic, the whole list is replaced
_Strategies = Mapping[FieldPath, _Keyed | _Set]

_CONTAINER_LISTS: dict[FieldPath, _Keyed] = {
    ("env",): _Keyed("name"),
    ("ports",): _Keyed("containerPort"),
    ("volumeMounts",): _Keyed("mountPath"),
    ("volumeDevices",): _Keyed("devicePath"),
}
_POD_SPEC_LISTS: dict[FieldPath, _Keyed] = {
    ("volumes",): _Keyed("name"),
    ("imagePullSecrets",): _Keyed("name"),
    ("hostAliases",): _Keyed("ip"),
    ("topologySpreadConstraints",): _Keyed("topologyKey"),
    ("resourceClaims",): _Keyed("name"),
    ("schedulingGates",): _Keyed("name"),
    **{
        (containers, *sub): strategy
        for containers in ("containers", "initContainers", "ephemeralContainers")
        for sub, strategy in {(): _Keyed("name"), **_CONTAINER_LISTS}.items()
    },
}
_POD_TEMPLATE = ("spec", "template", "spec")
_POD_SPEC_PATHS: dict[tuple[str, str], FieldPath] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): _POD_TEMPLATE,
    ("apps", "Deployment"): _POD_TEMPLATE,
    ("apps", "ReplicaSet"): _POD_TEMPLATE,
    ("apps", "StatefulSet"): _POD_TEMPLATE,
    ("apps", "DaemonSet"): _POD_TEMPLATE,
    ("batch", "Job"): _POD_TEMPLATE,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
_METADATA_LISTS: dict[FieldPath, _Keyed | _Set] = {
    ("metadata", "finalizers"): _Set(),
    ("metadata", "ownerReferences"): _Keyed("uid"),
}
_KIND_LISTS: dict[tuple[str, str], dict[FieldPath, _Keyed | _Set]] = {
    ("", "Service"): {("spec", "ports"): _Keyed("port")},
}
_STATUS_CONDITIONS: dict[FieldPath, _Keyed | _Set] = {("status", "conditions"): _Keyed("type")}

BUILTIN_GROUPS: Final = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)


def supports_strategic_merge(gvk: tuple[str, str, str]) -> bool:
    """Whether a group serves built-in kinds (custom resources answer 415 to strategic merge)."""
    return gvk[0] in BUILTIN_GROUPS


@lru_cache(maxsize=256)  # bounded: kinds of custom resources come from requests
def _strategies(group: str, kind: str) -> _Strategies:
    """List merge strategies by field path (list items add no path segment)."""
    table = dict(_METADATA_LISTS)
    if group in BUILTIN_GROUPS:
        table.update(_STATUS_CONDITIONS)
    pod_spec = _POD_SPEC_PATHS.get((group, kind))
    if pod_spec is not None:
        table.update({pod_spec + path: strategy for path, strategy in _POD_SPEC_LISTS.items()})
    table.update(_KIND_LISTS.get((group, kind), {}))
    return MappingProxyType(table)


def _strategies_of(obj: Mapping[str, Any]) -> _Strategies:
    """Strategies for the kind an object declares in its apiVersion and kind."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return _strategies(group, kind if isinstance(kind, str) else "")


# --- strategic merge patch -------------------------------------------------------------------

_PATCH_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


@_nesting_guard
def apply_strategic_merge_patch(
    obj: JSONObject, patch: Any, gvk: tuple[str, str, str]
) -> JSONObject:
    """Applies a Kubernetes strategic merge patch to a copy of obj of kind gvk.

    Lists with a known patch merge key merge element by element; all other lists are replaced.
    Directives ($patch, $setElementOrder, $deleteFromPrimitiveList, $retainKeys) are honoured
    and never stored.
    """
    group, _version, kind = gvk
    strategies = _strategies(group, kind)
    result = _smp_map(_copy(obj), _require_object(patch, "a strategic merge patch"), (), strategies)
    if result is None:
        raise PatchError("a strategic merge patch cannot delete the whole object")
    return result


def _smp_map(
    original: JSONObject, patch: JSONObject, path: FieldPath, strategies: _Strategies
) -> JSONObject | None:
    """Merges patch into original (a private copy, changed in place); None deletes the map."""
    directive = patch.get(_PATCH_DIRECTIVE, "merge")
    if directive == "delete":
        return None
    if directive == "replace":
        original = {}
    elif directive != "merge":
        raise PatchError(f"unknown $patch directive at {_dotted(path)}")
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            name = key.removeprefix(_DELETE_FROM_PRIMITIVE_LIST)
            _delete_from_list(original, name, _directive_list(key, value, path))
    for key, value in patch.items():
        if key.startswith("$"):
            _check_directive(key, value, path)
        elif value is None:
            original.pop(key, None)
        else:
            _smp_set(original, key, value, (*path, key), strategies)
    for key, value in patch.items():
        if key.startswith(_SET_ELEMENT_ORDER):
            name = key.removeprefix(_SET_ELEMENT_ORDER)
            _reorder(original, name, value, strategies.get((*path, name)))
    retained = patch.get(_RETAIN_KEYS)
    if retained is not None:
        original = {key: value for key, value in original.items() if key in retained}
    return original


def _smp_set(
    original: JSONObject, key: str, value: Any, path: FieldPath, strategies: _Strategies
) -> None:
    if isinstance(value, dict):
        current = original.get(key)
        merged = _smp_map(current if isinstance(current, dict) else {}, value, path, strategies)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    elif isinstance(value, list):
        original[key] = _smp_list(original.get(key), value, path, strategies)
    else:
        original[key] = value


def _fresh(value: Any, path: FieldPath, strategies: _Strategies) -> Any:
    """A patch value for a place with no original: directives applied, nulls dropped."""
    if isinstance(value, dict):
        return _smp_map({}, value, path, strategies)
    if isinstance(value, list):
        return _smp_list(None, value, path, strategies)
    return value


def _smp_list(
    original: Any, patch: list[Any], path: FieldPath, strategies: _Strategies
) -> list[Any]:
    replace = {_PATCH_DIRECTIVE: "replace"}
    items = [item for item in patch if item != replace]
    base = original if isinstance(original, list) and len(items) == len(patch) else []
    strategy = strategies.get(path)
    if isinstance(strategy, _Keyed):
        return _merge_keyed_list(base, items, strategy.key, path, strategies)
    fresh = [
        item for item in (_fresh(item, path, strategies) for item in items) if item is not None
    ]
    if isinstance(strategy, _Set):
        merged = list(base)
        for item in fresh:
            if item not in merged:
                merged.append(item)
        return merged
    return fresh


def _merge_keyed_list(
    base: list[Any], items: list[Any], key: str, path: FieldPath, strategies: _Strategies
) -> list[Any]:
    result = list(base)
    for item in items:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"items of {_dotted(path)} must be objects with merge key {key!r}")
        index = next(
            (i for i, el in enumerate(result) if isinstance(el, dict) and el.get(key) == item[key]),
            None,
        )
        if item.get(_PATCH_DIRECTIVE) == "delete":
            result = [
                el for el in result if not (isinstance(el, dict) and el.get(key) == item[key])
            ]
        elif index is None:
            created = _smp_map({}, item, path, strategies)
            result.extend([created] if created is not None else [])
        else:
            merged = _smp_map(result[index], item, path, strategies)
            if merged is None:
                del result[index]
            else:
                result[index] = merged
    return result


def _directive_list(key: str, value: Any, path: FieldPath) -> list[Any]:
    if not isinstance(value, list):
        raise PatchError(f"directive {key!r} at {_dotted(path)} must be a list")
    return value


def _check_directive(key: str, value: Any, path: FieldPath) -> None:
    if key == _RETAIN_KEYS:
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise PatchError(f"$retainKeys at {_dotted(path)} must be a list of field names")
    elif key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)):
        _directive_list(key, value, path)
    elif key != _PATCH_DIRECTIVE:
        raise PatchError(f"unknown directive {key!r} at {_dotted(path)}")


def _delete_from_list(original: JSONObject, name: str, values: list[Any]) -> None:
    current = original.get(name)
    if isinstance(current, list):
        original[name] = [item for item in current if item not in values]


def _reorder(original: JSONObject, name: str, order: Any, strategy: _ListStrategy) -> None:
    """Puts the elements $setElementOrder names first, in its order; the rest keep their order."""
    current = original.get(name)
    if not isinstance(current, list) or not isinstance(order, list):
        return

    def identity(item: Any) -> str:
        if isinstance(strategy, _Keyed):
            item = item.get(strategy.key) if isinstance(item, dict) else None
        return json.dumps(item, sort_keys=True)

    rank: dict[str, int] = {}
    for position, item in enumerate(order):
        rank.setdefault(identity(item), position)
    original[name] = sorted(current, key=lambda item: rank.get(identity(item), len(order)))


# --- server-side apply -----------------------------------------------------------------------

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


@_nesting_guard
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
    config = _apply_config(_require_object(applied, "an apply configuration"))
    strategies = _strategies_of(config)
    applied_fields = _owned_fields(config, strategies, strict=True)
    current = _copy(live) if live is not None else {}
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


@_nesting_guard
def record_update(
    old: JSONObject | None, new: JSONObject, managed: ManagedFields, manager: str
) -> ManagedFields:
    """Ownership after a POST/PUT/PATCH by manager: it takes every field it set or changed.

    Other managers lose those fields, and everybody loses fields that no longer exist.
    """
    strategies = _strategies_of(new)
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
    return _json_equal(old, new)


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
    obj: JSONObject, strategies: _Strategies, *, strict: bool = False
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
    strategies: _Strategies,
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
        if isinstance(strategy, _Keyed):
            fields[(*path, segment)] = _ELEMENT
            _collect(item, schema, (*path, segment), strategies, fields, strict)
        else:
            fields[(*path, segment)] = item


def _element_segments(
    value: Any, strategy: _ListStrategy, schema: FieldPath, strict: bool
) -> list[str] | None:
    """Path segments of a merged list's elements; None when the list is atomic.

    Keyed elements are ``k:<key>=<value>``, set members ``v:<json>``. A list whose elements
    lack their key or repeat one is atomic (or an error when strict).
    """
    if strategy is None or not isinstance(value, list):
        return None
    if isinstance(strategy, _Set):
        return [f"v:{json.dumps(item, sort_keys=True)}" for item in value]
    segments = [_key_segment(item, strategy.key) for item in value]
    if None in segments or len(set(segments)) != len(segments):
        if strict:
            raise PatchError(
                f"items of {_dotted(schema)} need distinct values of merge key {strategy.key!r}"
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
        if value is not _ELEMENT and not _json_equal(live.get(path, _MISSING), value)
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
    live: JSONObject, config: JSONObject, schema: FieldPath, strategies: _Strategies
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
    current: Any, value: list[Any], schema: FieldPath, strategies: _Strategies
) -> list[Any]:
    strategy = strategies.get(schema)
    live_segments = _element_segments(current, strategy, schema, strict=False)
    if live_segments is None or not isinstance(current, list):
        return value
    if isinstance(strategy, _Set):
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
