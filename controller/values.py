"""The values a release is installed with, and their digest.

Values come from a list of sources merged in order, the HelmRelease's inline
``values`` last (so they win). Values may hold secrets: nothing here logs them, and
the digest is the only thing about them that leaves this module.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

MAX_JSON_DEPTH = 10_000
"""The API server's own limit on the nesting of a stored object."""


def decode_json(data: bytes | str) -> Any:
    """``json.loads`` that reads every object an API server can store: nested up to its
    limit, deeper than Python's default recursion allows (ValueError beyond it)."""
    try:
        return json.loads(data)
    except RecursionError:
        pass
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 2 * MAX_JSON_DEPTH + 1000))  # the decoder's frames
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    finally:
        sys.setrecursionlimit(limit)


def merge_values(sources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Deep-merge ``sources`` in order: maps merge key by key, anything else is replaced."""
    merged: dict[str, Any] = {}
    for source in sources:
        merged = _merge(merged, source)
    return merged


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = _merge(current, value)
        else:
            result[key] = value
    return result


def canonical_json(data: Any) -> bytes:
    """JSON with sorted keys and no whitespace: equal data gives equal bytes.

    Numbers keep the type they were parsed as (``1`` and ``1.0`` differ, as they do
    for a chart's templates).
    """
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def digest(data: Any) -> str:
    """Hex sha256 of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def values_digest(values: Mapping[str, Any]) -> str:
    """The digest recorded as ``status.valuesChecksum``."""
    return digest(values)
