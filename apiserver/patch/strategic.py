"""Kubernetes strategic merge patch (``application/strategic-merge-patch+json``) of built-in kinds.

Maps merge as in a merge patch; a list merges element by element when ``strategies`` knows its
merge key, as a set when it is a set, and is replaced otherwise. The ``$patch``,
``$retainKeys``, ``$setElementOrder/`` and ``$deleteFromPrimitiveList/`` directives are
honoured and never stored.
"""

from __future__ import annotations

import json
from typing import Any

from .common import (
    FieldPath,
    JSONObject,
    PatchError,
    copy_json,
    dotted,
    nesting_guard,
    require_object,
)
from .strategies import Keyed, ListStrategy, Set, Strategies, strategies_for_kind

_PATCH_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ELEMENT_ORDER = "$setElementOrder/"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"


@nesting_guard
def apply_strategic_merge_patch(
    obj: JSONObject, patch: Any, gvk: tuple[str, str, str]
) -> JSONObject:
    """Applies a Kubernetes strategic merge patch to a copy of obj of kind gvk.

    Lists with a known patch merge key merge element by element; all other lists are replaced.
    Directives ($patch, $setElementOrder, $deleteFromPrimitiveList, $retainKeys) are honoured
    and never stored.
    """
    group, _version, kind = gvk
    strategies = strategies_for_kind(group, kind)
    result = _smp_map(
        copy_json(obj), require_object(patch, "a strategic merge patch"), (), strategies
    )
    if result is None:
        raise PatchError("a strategic merge patch cannot delete the whole object")
    return result


def _smp_map(
    original: JSONObject, patch: JSONObject, path: FieldPath, strategies: Strategies
) -> JSONObject | None:
    """Merges patch into original (a private copy, changed in place); None deletes the map."""
    directive = patch.get(_PATCH_DIRECTIVE, "merge")
    if directive == "delete":
        return None
    if directive == "replace":
        original = {}
    elif directive != "merge":
        raise PatchError(f"unknown $patch directive at {dotted(path)}")
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
    original: JSONObject, key: str, value: Any, path: FieldPath, strategies: Strategies
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


def _fresh(value: Any, path: FieldPath, strategies: Strategies) -> Any:
    """A patch value for a place with no original: directives applied, nulls dropped."""
    if isinstance(value, dict):
        return _smp_map({}, value, path, strategies)
    if isinstance(value, list):
        return _smp_list(None, value, path, strategies)
    return value


def _smp_list(
    original: Any, patch: list[Any], path: FieldPath, strategies: Strategies
) -> list[Any]:
    replace = {_PATCH_DIRECTIVE: "replace"}
    items = [item for item in patch if item != replace]
    base = original if isinstance(original, list) and len(items) == len(patch) else []
    strategy = strategies.get(path)
    if isinstance(strategy, Keyed):
        return _merge_keyed_list(base, items, strategy.key, path, strategies)
    fresh = [
        item for item in (_fresh(item, path, strategies) for item in items) if item is not None
    ]
    if isinstance(strategy, Set):
        merged = list(base)
        for item in fresh:
            if item not in merged:
                merged.append(item)
        return merged
    return fresh


def _merge_keyed_list(
    base: list[Any], items: list[Any], key: str, path: FieldPath, strategies: Strategies
) -> list[Any]:
    result = list(base)
    for item in items:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"items of {dotted(path)} must be objects with merge key {key!r}")
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
        raise PatchError(f"directive {key!r} at {dotted(path)} must be a list")
    return value


def _check_directive(key: str, value: Any, path: FieldPath) -> None:
    if key == _RETAIN_KEYS:
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise PatchError(f"$retainKeys at {dotted(path)} must be a list of field names")
    elif key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)):
        _directive_list(key, value, path)
    elif key != _PATCH_DIRECTIVE:
        raise PatchError(f"unknown directive {key!r} at {dotted(path)}")


def _delete_from_list(original: JSONObject, name: str, values: list[Any]) -> None:
    current = original.get(name)
    if isinstance(current, list):
        original[name] = [item for item in current if item not in values]


def _reorder(original: JSONObject, name: str, order: Any, strategy: ListStrategy) -> None:
    """Puts the elements $setElementOrder names first, in its order; the rest keep their order."""
    current = original.get(name)
    if not isinstance(current, list) or not isinstance(order, list):
        return

    def identity(item: Any) -> str:
        if isinstance(strategy, Keyed):
            item = item.get(strategy.key) if isinstance(item, dict) else None
        return json.dumps(item, sort_keys=True)

    rank: dict[str, int] = {}
    for position, item in enumerate(order):
        rank.setdefault(identity(item), position)
    original[name] = sorted(current, key=lambda item: rank.get(identity(item), len(order)))
