"""JSON as a real API server reads and writes it.

Go's decoder refuses what Python's accepts (``NaN``, ``Infinity``, numbers beyond a
float64 such as ``1e400``) and the server bounds nesting at 10,000 levels (deeper: 400); up
to that depth an object is stored and served, deeper than Python's default recursion lets
``json`` go (the limit is raised for the call).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from typing import Any, TypeVar

MAX_DEPTH = 10_000
"""The real server's nesting limit (sigs.k8s.io/json)."""

T = TypeVar("T")


class JSONRejected(ValueError):
    """A body a real server refuses."""


def loads(raw: bytes | str) -> Any:
    """The value of a request body, or JSONRejected (ValueError) as a real server refuses it."""
    try:
        return json.loads(raw, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        pass  # deeper than Python's default recursion: read it again, then count its depth
    value = _deep(lambda: json.loads(raw, parse_constant=_constant, parse_float=_float))
    if _depth(value) > MAX_DEPTH:
        raise JSONRejected(f"exceeded max depth of {MAX_DEPTH}")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` nests maps and lists (iterative: any depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            stack.extend(
                (child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest


def dumps(value: Any) -> bytes:
    """Compact JSON of a stored value, however deep it is."""
    return _deep(lambda: json.dumps(value, separators=(",", ":")).encode())


def _constant(name: str) -> Any:
    raise JSONRejected(f"invalid character '{name[0]}' looking for beginning of value")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise JSONRejected(f"cannot unmarshal number {text} into Go value of type float64")
    return number


def _deep(work: Callable[[], T]) -> T:
    try:
        return work()
    except RecursionError:
        pass
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 2 * MAX_DEPTH + 1000))
    try:
        return work()
    except RecursionError:
        raise JSONRejected(f"exceeded max depth of {MAX_DEPTH}") from None
    finally:
        sys.setrecursionlimit(limit)
