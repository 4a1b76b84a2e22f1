"""Reading workload objects that nothing has validated: a wrong type reads as absent."""

from __future__ import annotations

from typing import Any

from ..store import meta, now_rfc3339


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def template(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a workload."""
    return as_dict(as_dict(obj.get("spec")).get("template"))


def annotations_of(obj: dict[str, Any]) -> dict[str, Any]:
    return as_dict(meta(obj).get("annotations"))


def replicas(obj: dict[str, Any]) -> int:
    """``spec.replicas``, 1 when unset (the API server's default)."""
    value = as_dict(obj.get("spec")).get("replicas", 1)
    return value if isinstance(value, int) else 1


def int_field(spec: dict[str, Any], name: str, default: int) -> int:
    value = spec.get(name)
    return value if isinstance(value, int) else default


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    """A workload condition as the controllers write it."""
    now = now_rfc3339()
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }
