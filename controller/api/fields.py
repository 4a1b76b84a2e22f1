"""Reading typed fields out of a raw HelmRelease body, naming the field on any problem.

Raise ``Invalid`` (or ``NotSupported``) inside a parser; its boundary turns it into the
``SpecError`` it carries. Messages name the field and the JSON type found, never a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from controller.api.spec import NOT_SUPPORTED, SpecError

T = TypeVar("T")


class Invalid(Exception):
    """A field the spec cannot have; carries the ``SpecError`` that reports it."""

    def __init__(self, field: str, message: str, reason: str | None = None) -> None:
        super().__init__(field, message)
        self.error = (
            SpecError(field, message) if reason is None else SpecError(field, message, reason)
        )


def not_supported(field: str, message: str) -> Invalid:
    """A valid field asking for a feature this operator does not have (yet)."""
    return Invalid(field, message, NOT_SUPPORTED)


def mapping(
    parent: Mapping[str, Any], key: str, field: str, *, required: bool
) -> Mapping[str, Any]:
    found = typed(parent, key, field, dict, "a map", required=required)
    return found if found is not None else {}


def string(parent: Mapping[str, Any], key: str, field: str, *, required: bool) -> str | None:
    found = typed(parent, key, field, str, "a string", required=required)
    if required and not found:
        raise Invalid(field, "is required")
    return found


def required_string(parent: Mapping[str, Any], key: str, field: str) -> str:
    found = string(parent, key, field, required=True)
    assert found is not None  # string() raised otherwise
    return found


def flag(parent: Mapping[str, Any], key: str, field: str) -> bool | None:
    """A boolean field; None when it is not set (some defaults depend on that)."""
    return typed(parent, key, field, bool, "true or false")


def items(parent: Mapping[str, Any], key: str, field: str) -> list[Any]:
    found = typed(parent, key, field, list, "a list")
    return found if found is not None else []


def typed(
    parent: Mapping[str, Any],
    key: str,
    field: str,
    kind: type[T],
    described: str,
    *,
    required: bool = False,
) -> T | None:
    """``parent[key]`` if it is a ``kind``; None when absent/null and optional."""
    value = parent.get(key)
    if value is None:
        if required:
            raise Invalid(field, "is required")
        return None
    # bool is an int in Python, but `maxHistory: true` is not a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise Invalid(field, f"must be {described}, not {json_type(value)}")
    return value


MAX_VALUES_DEPTH = 100
"""Deepest nesting of values accepted: no chart needs more, and deeper values cannot be
written for helm safely (each encoder on the way nests a call per level)."""


def values_problem(values: Any) -> str | None:
    """Why ``values`` cannot be released (nested too deep, a number that is not finite),
    or None; never quotes them. Iterative: an object of any depth is looked at safely."""
    stack = [(values, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return "holds a number that is not finite (NaN or infinity)"
        if isinstance(value, Mapping | list):
            if depth > MAX_VALUES_DEPTH:
                return f"is nested deeper than {MAX_VALUES_DEPTH} levels"
            children = value.values() if isinstance(value, Mapping) else value
            stack.extend((child, depth + 1) for child in children)
    return None


def json_type(value: Any) -> str:
    kinds = ((bool, "a boolean"), (str, "a string"), (Mapping, "a map"), (list, "a list"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else "an unknown type"
