"""Keys that flow through the pipeline instead of objects (the queue is level-based)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ObjectKey:
    """One HelmRelease: its API group, namespace and name."""

    group: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, order=True)
class ReleaseKey:
    """One Helm release: where helm stores it. Two HelmReleases may point at the same one."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
