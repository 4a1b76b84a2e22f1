"""``spec.dependsOn`` (helm-controller's): whether the HelmReleases a release depends on
are Ready, or form a cycle with it. Pure: it reads HelmRelease bodies through ``lookup``
(the cache), never the API.

A dependency is Ready when its Ready condition is True for its current generation. A
cycle is any path of ``dependsOn`` that leads back to the HelmRelease asking; it is named
in full (``a -> b -> a``) and only a spec change can break it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.api import dependencies_of
from controller.keys import ObjectKey

Lookup = Callable[[ObjectKey], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Unready:
    """Dependencies not Ready yet (or missing): wait, woken when one becomes Ready."""

    waiting: tuple[str, ...]
    """``namespace/name: why`` of each."""


@dataclass(frozen=True)
class Cycle:
    path: tuple[ObjectKey, ...]

    def __str__(self) -> str:
        return " -> ".join(f"{key.namespace}/{key.name}" for key in self.path)


def check(
    owner: ObjectKey, dependencies: tuple[tuple[str, str], ...], lookup: Lookup
) -> Unready | Cycle | None:
    """None when every dependency of ``owner`` is Ready."""
    cycle = _cycle(owner, dependencies, lookup)
    if cycle is not None:
        return cycle
    waiting = []
    for namespace, name in dependencies:
        obj = lookup(ObjectKey(owner.group, namespace, name))
        if obj is None:
            waiting.append(f"{namespace}/{name}: not found")
        elif not ready(obj):
            waiting.append(f"{namespace}/{name}: not Ready")
    return Unready(tuple(waiting)) if waiting else None


def ready(obj: Mapping[str, Any]) -> bool:
    """Whether a HelmRelease is Ready for its current generation."""
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    generation = obj.get("metadata", {}).get("generation")
    for condition in conditions if isinstance(conditions, list) else ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            current = condition.get("observedGeneration") in (None, generation)
            return condition.get("status") == "True" and current
    return False


def _cycle(
    owner: ObjectKey, dependencies: tuple[tuple[str, str], ...], lookup: Lookup
) -> Cycle | None:
    """A path from ``owner`` back to itself, depth first, each HelmRelease visited once."""
    stack: list[tuple[ObjectKey, tuple[ObjectKey, ...]]] = [
        (ObjectKey(owner.group, ns, name), (owner,)) for ns, name in dependencies
    ]
    visited: set[ObjectKey] = set()
    while stack:
        key, path = stack.pop()
        if key == owner:
            return Cycle((*path, owner))
        if key in visited:
            continue
        visited.add(key)
        obj = lookup(key)
        if obj is not None:
            stack += [
                (ObjectKey(owner.group, ns, name), (*path, key))
                for ns, name in dependencies_of(obj)
            ]
    return None
