"""What every patch algorithm shares: the JSON types, PatchError and the helpers on JSON values.

The algorithms never mutate their inputs, so they all copy with ``copy_json``; they compare
with ``json_equal`` (where true is not 1), turn an absurdly deep document into a PatchError
with ``nesting_guard`` and check their arguments with ``require_object``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

JSONObject = dict[str, Any]
FieldPath = tuple[str, ...]
_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


class PatchError(ValueError):
    """The patch is invalid or cannot be applied to the object."""


def copy_json(value: _T) -> _T:
    """Deep copy of JSON-like data (much cheaper than copy.deepcopy)."""
    if isinstance(value, dict):
        return {key: copy_json(child) for key, child in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [copy_json(child) for child in value]  # type: ignore[return-value]
    return value


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(value, right[key]) for key, value in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and bool(left == right)


def nesting_guard(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turns the RecursionError of an absurdly deep document into a PatchError."""

    @wraps(function)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except RecursionError:
            raise PatchError("the object or patch is nested too deeply") from None

    return guarded


def require_object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise PatchError(f"{what} must be a JSON object")
    return value


def dotted(path: FieldPath) -> str:
    return "." + ".".join(path) if path else "the object"
