"""RFC 7386 JSON merge patch (``application/merge-patch+json``), for every kind.

The simplest of the patches and the one clients fall back to for custom resources: a null
deletes a member, an object merges into the object at the same place and any other value,
lists included, replaces what was there.
"""

from __future__ import annotations

from typing import Any

from .common import JSONObject, copy_json, nesting_guard, require_object


@nesting_guard
def apply_merge_patch(obj: JSONObject, patch: Any) -> JSONObject:
    """Applies an RFC 7386 merge patch: null deletes, objects merge, anything else replaces."""
    result = copy_json(obj)
    _merge_into(result, require_object(patch, "a merge patch of an object"))
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
            target[key] = copy_json(value)
