"""How the lists of the built-in kinds merge, by field path: by a key, as a set, or atomically.

Kubernetes declares these per field in its Go types (``patchMergeKey``, ``listType``); this is
the part of that table charts touch. Strategic merge patch merges lists with it, and
server-side apply names list elements by it in field ownership. Custom resources get only the
metadata lists: they do not support strategic merge patch at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

from .common import FieldPath


@dataclass(frozen=True)
class Keyed:
    """A list of objects merged element by element, matched on one key."""

    key: str


@dataclass(frozen=True)
class Set:
    """A list of scalars merged as a set (finalizers)."""


ListStrategy = Keyed | Set | None  # None: atomic, the whole list is replaced
Strategies = Mapping[FieldPath, Keyed | Set]

_CONTAINER_LISTS: dict[FieldPath, Keyed] = {
    ("env",): Keyed("name"),
    ("ports",): Keyed("containerPort"),
    ("volumeMounts",): Keyed("mountPath"),
    ("volumeDevices",): Keyed("devicePath"),
}
_POD_SPEC_LISTS: dict[FieldPath, Keyed] = {
    ("volumes",): Keyed("name"),
    ("imagePullSecrets",): Keyed("name"),
    ("hostAliases",): Keyed("ip"),
    ("topologySpreadConstraints",): Keyed("topologyKey"),
    ("resourceClaims",): Keyed("name"),
    ("schedulingGates",): Keyed("name"),
    **{
        (containers, *sub): strategy
        for containers in ("containers", "initContainers", "ephemeralContainers")
        for sub, strategy in {(): Keyed("name"), **_CONTAINER_LISTS}.items()
    },
}
_POD_TEMPLATE = ("spec", "template", "spec")
_POD_SPEC_PATHS: dict[tuple[str, str], FieldPath] = {
    ("", "Pod"): ("spec",),
    ("", "PodTemplate"): ("template", "spec"),
    ("", "ReplicationController"): _POD_TEMPLATE,
    ("apps", "Deployment"): _POD_TEMPLATE,
    ("apps", "ReplicaSet"): _POD_TEMPLATE,
    ("apps", "StatefulSet"): _POD_TEMPLATE,
    ("apps", "DaemonSet"): _POD_TEMPLATE,
    ("batch", "Job"): _POD_TEMPLATE,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
_METADATA_LISTS: dict[FieldPath, Keyed | Set] = {
    ("metadata", "finalizers"): Set(),
    ("metadata", "ownerReferences"): Keyed("uid"),
}
_KIND_LISTS: dict[tuple[str, str], dict[FieldPath, Keyed | Set]] = {
    ("", "Service"): {("spec", "ports"): Keyed("port")},
}
_STATUS_CONDITIONS: dict[FieldPath, Keyed | Set] = {("status", "conditions"): Keyed("type")}

BUILTIN_GROUPS: Final = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)


def supports_strategic_merge(gvk: tuple[str, str, str]) -> bool:
    """Whether a group serves built-in kinds (custom resources answer 415 to strategic merge)."""
    return gvk[0] in BUILTIN_GROUPS


@lru_cache(maxsize=256)  # bounded: kinds of custom resources come from requests
def strategies_for_kind(group: str, kind: str) -> Strategies:
    """List merge strategies by field path (list items add no path segment)."""
    table = dict(_METADATA_LISTS)
    if group in BUILTIN_GROUPS:
        table.update(_STATUS_CONDITIONS)
    pod_spec = _POD_SPEC_PATHS.get((group, kind))
    if pod_spec is not None:
        table.update({pod_spec + path: strategy for path, strategy in _POD_SPEC_LISTS.items()})
    table.update(_KIND_LISTS.get((group, kind), {}))
    return MappingProxyType(table)


def strategies_of(obj: Mapping[str, Any]) -> Strategies:
    """Strategies for the kind an object declares in its apiVersion and kind."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return strategies_for_kind(group, kind if isinstance(kind, str) else "")
