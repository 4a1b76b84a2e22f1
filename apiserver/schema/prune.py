"""Pruning: a custom resource loses the fields its schema does not declare, as a built-in object
loses those its Go type does not have.

The first step of admission. What survives is what ``x-kubernetes-preserve-unknown-fields``,
``additionalProperties`` and the declared properties allow; embedded resources keep their type
and the ObjectMeta fields of their metadata. The caller collects the dropped paths for the
server's warnings, or its rejection under strict field validation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .common import EMBEDDED, PRESERVE, Schema, join_path, schema_or_none

_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


def prune(
    schema: Schema,
    obj: Mapping[str, Any],
    unknown: list[str] | None = None,
    *,
    verbatim: Sequence[str] = _RESOURCE_FIELDS,
) -> dict[str, Any]:
    """A copy of `obj` without the fields `schema` does not declare.

    The `verbatim` fields of the object itself are kept as they are: a custom resource's
    apiVersion, kind and metadata (metadata has its own rules); a built-in kind's schema
    declares all three. The path of every dropped field (`spec.foo`, `spec.items[0].bar`) is
    appended to `unknown` when given: the server warns about them, or rejects them when strict.
    """
    dropped = unknown if unknown is not None else []
    return _prune_object(schema, obj, "", dropped, verbatim=verbatim)


def _prune(schema: Schema | None, value: Any, path: str, dropped: list[str]) -> Any:
    if schema is None:
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        if schema.get(EMBEDDED) is True:
            return _prune_embedded(schema, value, path, dropped)
        return _prune_object(schema, value, path, dropped)
    if isinstance(value, list):
        items = schema_or_none(schema.get("items"))
        return [
            _prune(items, item, f"{path}[{index}]", dropped) for index, item in enumerate(value)
        ]
    return value


def _prune_object(
    schema: Schema,
    value: Mapping[str, Any],
    path: str,
    dropped: list[str],
    verbatim: Sequence[str] = (),
) -> dict[str, Any]:
    properties = schema_or_none(schema.get("properties")) or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get(PRESERVE) is True or additional is True
    result: dict[str, Any] = {}
    for key, item in value.items():
        child = join_path(path, key)
        if key in verbatim:
            result[key] = copy.deepcopy(item)
        elif key in properties:
            result[key] = _prune(schema_or_none(properties[key]), item, child, dropped)
        elif isinstance(additional, Mapping):
            result[key] = _prune(additional, item, child, dropped)
        elif preserve:
            result[key] = copy.deepcopy(item)
        else:
            dropped.append(child)
    return result


def _prune_embedded(
    schema: Schema, value: Mapping[str, Any], path: str, dropped: list[str]
) -> dict[str, Any]:
    """An embedded object keeps apiVersion and kind, and the ObjectMeta fields of metadata."""
    result = _prune_object(schema, value, path, dropped, verbatim=_RESOURCE_FIELDS)
    metadata = value.get("metadata")
    if isinstance(metadata, Mapping):
        for key in metadata:
            if key not in _OBJECT_META_FIELDS:
                dropped.append(join_path(join_path(path, "metadata"), key))
        result["metadata"] = {
            key: item for key, item in result["metadata"].items() if key in _OBJECT_META_FIELDS
        }
    return result
