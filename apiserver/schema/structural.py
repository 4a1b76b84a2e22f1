"""The structural schema rules a CRD's openAPIV3Schema must follow for the server to accept it.

Every node has a type (unless int-or-string or preserving unknown fields), value validations
(allOf/anyOf/oneOf/not) leave structure alone, metadata declares at most name and
generateName, and defaults must themselves validate. The texts match the real server's, which
prefixes them with the schema's place in the CRD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .common import (
    EMBEDDED,
    INT_OR_STRING,
    LIST_MAP_KEYS,
    LIST_TYPE,
    PRESERVE,
    Schema,
    join_path,
    schema_or_none,
)
from .errors import FieldError, forbidden, invalid, not_supported, required
from .validate import validate

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_VALUE_VALIDATIONS = ("allOf", "anyOf", "oneOf", "not")
# Keywords a value validation (allOf/anyOf/oneOf/not) must leave to the structural part.
_FORBIDDEN_IN_VALUE_VALIDATION = {
    "type": "must be empty to be structural",
    "additionalProperties": "must be undefined to be structural",
    "default": "must be undefined to be structural",
    "title": "must be empty to be structural",
    "description": "must be empty to be structural",
    "nullable": "must be false to be structural",
    PRESERVE: "must be false to be structural",
    EMBEDDED: "must be false to be structural",
    INT_OR_STRING: "must be false to be structural",
    LIST_TYPE: "must be undefined to be structural",
    LIST_MAP_KEYS: "must be empty to be structural",
}


def structural_errors(schema: Schema) -> list[str]:
    """Why `schema` (an openAPIV3Schema) is not structural, as texts relative to its root.

    For example `properties[spec].type: Required value: must not be empty for specified object
    fields`; the server prefixes them with the schema's place in the CRD and a dot.
    """
    problems: list[FieldError] = []
    if schema.get("type") != "object":
        if schema.get("type"):
            problems.append(invalid("type", schema.get("type"), "must be object at the root"))
        else:
            problems.append(required("type", "must not be empty at the root"))
    properties = schema_or_none(schema.get("properties")) or {}
    metadata = properties.get("metadata")
    if isinstance(metadata, Mapping) and _metadata_goes_beyond_names(metadata):
        problems.append(
            forbidden(
                "properties[metadata]",
                "must not specify anything other than name and generateName, but metadata is"
                " implicitly specified",
            )
        )
    _check_node(schema, "", None, problems)
    return [str(problem) for problem in problems]


def _metadata_goes_beyond_names(metadata: Schema) -> bool:
    properties = metadata.get("properties")
    extra = set(properties) - {"name", "generateName"} if isinstance(properties, Mapping) else set()
    return bool(extra) or any(key in metadata for key in ("required", "additionalProperties"))


def _check_node(schema: Schema, path: str, place: str | None, problems: list[FieldError]) -> None:
    """Check one node; `place` says where it is for a missing type (None: the root, checked
    by the caller)."""
    kind = schema.get("type")
    exempt = schema.get(INT_OR_STRING) is True or schema.get(PRESERVE) is True
    if place is not None and not kind and not exempt:
        problems.append(required(join_path(path, "type"), f"must not be empty {place}"))
    if kind and kind not in _TYPES:
        problems.append(not_supported(join_path(path, "type"), kind, _TYPES))
    if kind and schema.get(INT_OR_STRING) is True:
        problems.append(
            forbidden(
                join_path(path, "type"), "must be empty if x-kubernetes-int-or-string is true"
            )
        )
    if schema.get(PRESERVE) is False:
        problems.append(
            invalid(join_path(path, PRESERVE), False, "must be true or undefined to be structural")
        )
    if schema.get("uniqueItems") is True:
        problems.append(
            forbidden(
                join_path(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if schema.get(EMBEDDED) is True and kind != "object":
        problems.append(
            invalid(join_path(path, "type"), kind or "", f"must be object if {EMBEDDED} is true")
        )
    if "default" in schema:
        problems.extend(_default_errors(schema, path))
    _check_children(schema, path, problems)
    for keyword in _VALUE_VALIDATIONS:
        for branch_path, branch in _branches(schema, keyword, path):
            _check_value_validation(branch, branch_path, problems)


def _default_errors(schema: Schema, path: str) -> list[FieldError]:
    """A default must itself be valid: the server validates it like an object's field."""
    default_path = join_path(path, "default")
    return [
        replace(
            error,
            field=default_path
            if error.field in ("", "<nil>")
            else join_path(default_path, error.field),
        )
        for error in validate(schema, schema["default"])
    ]


def _check_children(schema: Schema, path: str, problems: list[FieldError]) -> None:
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    if isinstance(properties, Mapping):
        if properties and additional is not None and additional is not True:
            problems.append(
                forbidden(
                    join_path(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                )
            )
        for key, child in properties.items():
            child_path = join_path(path, f"properties[{key}]")
            if isinstance(child, Mapping):
                _check_node(child, child_path, "for specified object fields", problems)
    if isinstance(additional, Mapping):
        _check_node(
            additional,
            join_path(path, "additionalProperties"),
            "for specified object fields",
            problems,
        )
    items = schema.get("items")
    if isinstance(items, list):
        problems.append(
            forbidden(join_path(path, "items"), "items must be a schema object and not an array")
        )
    elif isinstance(items, Mapping):
        _check_node(items, join_path(path, "items"), "for specified array items", problems)
    elif schema.get("type") == "array":
        problems.append(required(join_path(path, "items"), "must be specified"))


def _branches(schema: Schema, keyword: str, path: str) -> list[tuple[str, Schema]]:
    value = schema.get(keyword)
    if isinstance(value, Mapping):
        return [(join_path(path, keyword), value)]
    if isinstance(value, list):
        return [
            (join_path(path, f"{keyword}[{index}]"), branch)
            for index, branch in enumerate(value)
            if isinstance(branch, Mapping)
        ]
    return []


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != "" and value != []


def _check_value_validation(schema: Schema, path: str, problems: list[FieldError]) -> None:
    """Inside allOf/anyOf/oneOf/not only value checks may appear, never structure."""
    for keyword, detail in _FORBIDDEN_IN_VALUE_VALIDATION.items():
        if _is_set(schema.get(keyword)):
            problems.append(forbidden(join_path(path, keyword), detail))
    properties = schema.get("properties")
    for key, child in properties.items() if isinstance(properties, Mapping) else ():
        if isinstance(child, Mapping):
            _check_value_validation(child, join_path(path, f"properties[{key}]"), problems)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _check_value_validation(items, join_path(path, "items"), problems)
    for keyword in _VALUE_VALIDATIONS:
        for branch_path, branch in _branches(schema, keyword, path):
            _check_value_validation(branch, branch_path, problems)
