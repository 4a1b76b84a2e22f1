"""The vocabulary every schema module shares: the Schema type, the Kubernetes extension keywords.

Also the two helpers the walks over a schema use: ``join_path`` extends a field path the way
the real server prints it (``spec.items``), ``schema_or_none`` reads a sub-schema that may be
missing or malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
EMBEDDED = "x-kubernetes-embedded-resource"
INT_OR_STRING = "x-kubernetes-int-or-string"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def schema_or_none(value: Any) -> Schema | None:
    return value if isinstance(value, Mapping) else None
