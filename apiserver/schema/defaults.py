"""Defaulting: the schema's ``default`` values filled into a pruned custom resource.

The second step of admission, before validation: a missing field with a default gets it, and a
null the schema does not allow is replaced by the default or dropped, as the real server does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .common import Schema, schema_or_none


def apply_defaults(schema: Schema, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with the schema's defaults filled in, as the real server does.

    A null where the schema does not allow one is replaced by the default, or dropped when there
    is none; a null the schema allows (`nullable: true`) stays null.
    """
    result = copy.deepcopy(dict(obj))
    _default(schema, result)
    return result


def _is_replaceable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and schema.get("nullable") is not True


def _default(schema: Schema | None, value: Any) -> None:
    """Fill in defaults in place (`value` is a private copy)."""
    if schema is None:
        return
    if isinstance(value, dict):
        _default_object(schema, value)
    elif isinstance(value, list):
        items = schema_or_none(schema.get("items"))
        for index, item in enumerate(value):
            if _is_replaceable_null(item, items) and items is not None and "default" in items:
                value[index] = copy.deepcopy(items["default"])
            _default(items, value[index])


def _default_object(schema: Schema, value: dict[str, Any]) -> None:
    properties = schema_or_none(schema.get("properties")) or {}
    additional = schema_or_none(schema.get("additionalProperties"))
    for key, property_schema in properties.items():
        defaulted = isinstance(property_schema, Mapping) and "default" in property_schema
        if defaulted and (key not in value or _is_replaceable_null(value[key], property_schema)):
            value[key] = copy.deepcopy(property_schema["default"])
    for key in list(value):
        child_schema = schema_or_none(properties[key]) if key in properties else additional
        if _is_replaceable_null(value[key], child_schema):
            if child_schema is not None and "default" in child_schema:
                value[key] = copy.deepcopy(child_schema["default"])
            else:
                del value[key]
                continue
        _default(child_schema, value[key])
