"""The resource types the server knows: built-in ones from a table, custom ones from CRDs.

A ``ResourceType`` is one served group/version/plural. Objects are stored per
``GroupResource`` (group + plural), so every served version of a CRD shares one
set of objects, like a real server without conversion webhooks. A built-in type may keep
its objects with another resource's, in that resource's form, converted on the way in
and out (``Conversion``): events.k8s.io/v1 Events are the core/v1 Events (``events``).
Deployments, ReplicaSets and StatefulSets have a ``scale`` subresource (``routes.scale``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import events

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True, order=True)
class GroupResource:
    """Where objects of one kind are stored, whatever version they are served at."""

    group: str
    plural: str

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/plural and what the server needs to know about it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    """OpenAPI v3 schema of a custom resource version (validation, pruning, defaults)."""
    has_scale: bool = False
    """Whether it serves the autoscaling/v1 ``scale`` subresource."""
    stored_as: GroupResource | None = None
    """The resource whose objects these are, when not its own (then in that one's form)."""
    conversion: Conversion | None = field(default=None, compare=False, hash=False)
    """How its objects are written to and read from the store, when not as they come."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> GroupResource:
        """Where its objects are stored (and watched)."""
        return self.stored_as or GroupResource(self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return self.schema is not None

    @property
    def subresources(self) -> tuple[str, ...]:
        """Its subresources, in the order discovery lists them."""
        present = (("scale", self.has_scale), ("status", self.has_status))
        return tuple(name for name, served in present if served)


Converter = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Conversion:
    """A built-in type whose stored form is not the one it serves, as on a real server that
    stores one version and converts: ``to_storage`` takes an admitted object (in the served
    form) to the stored one; ``from_storage`` serves a stored object (None: as it is)."""

    to_storage: Converter
    from_storage: Converter | None = None


def served(obj: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    """A stored object as ``resource_type`` serves it: converted, or at its apiVersion (every
    served version of a CRD shares one stored object)."""
    conversion = resource_type.conversion
    if conversion is not None and conversion.from_storage is not None:
        return conversion.from_storage(obj)
    if obj.get("apiVersion") == resource_type.api_version:
        return obj
    return {**obj, "apiVersion": resource_type.api_version}


def stored(obj: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    """An admitted object in the form the store keeps for ``resource_type``."""
    conversion = resource_type.conversion
    return obj if conversion is None else conversion.to_storage(obj)


def _builtin(
    group_version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    all_category: bool = False,
    status: bool = False,
    scale: bool = False,
    stored_as: GroupResource | None = None,
    conversion: Conversion | None = None,
) -> ResourceType:
    group, _, version = group_version.rpartition("/")
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=("all",) if all_category else (),
        has_status=status,
        has_scale=scale,
        stored_as=stored_as,
        conversion=conversion,
    )


CORE_EVENTS = GroupResource("", "events")


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("v1", "namespaces", "Namespace", namespaced=False, short=("ns",), status=True),
    _builtin("v1", "configmaps", "ConfigMap", short=("cm",)),
    _builtin("v1", "secrets", "Secret"),
    _builtin("v1", "services", "Service", short=("svc",), all_category=True, status=True),
    _builtin("v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _builtin("v1", "pods", "Pod", short=("po",), all_category=True, status=True),
    _builtin("v1", "events", "Event", short=("ev",), conversion=Conversion(events.to_core)),
    _builtin("v1", "endpoints", "Endpoints", short=("ep",)),
    _builtin("v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), status=True),
    _builtin(
        "apps/v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        all_category=True,
        status=True,
        scale=True,
    ),
    _builtin(
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        all_category=True,
        status=True,
        scale=True,
    ),
    _builtin(
        "apps/v1",
        "statefulsets",
        "StatefulSet",
        short=("sts",),
        all_category=True,
        status=True,
        scale=True,
    ),
    _builtin("apps/v1", "daemonsets", "DaemonSet", short=("ds",), all_category=True, status=True),
    _builtin("batch/v1", "jobs", "Job", all_category=True, status=True),
    _builtin("batch/v1", "cronjobs", "CronJob", short=("cj",), all_category=True, status=True),
    _builtin("networking.k8s.io/v1", "ingresses", "Ingress", short=("ing",), status=True),
    _builtin("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _builtin("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _builtin("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _builtin("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    _builtin(
        "policy/v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), status=True
    ),
    _builtin(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short=("hpa",),
        all_category=True,
        status=True,
    ),
    _builtin("coordination.k8s.io/v1", "leases", "Lease"),
    _builtin(
        "events.k8s.io/v1",
        "events",
        "Event",
        short=("ev",),
        stored_as=CORE_EVENTS,
        conversion=Conversion(events.events_to_core, events.core_to_events),
    ),
    _builtin(
        "storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False, short=("sc",)
    ),
    _builtin(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
    ),
)

NAMESPACES = GroupResource("", "namespaces")
CRDS = GroupResource("apiextensions.k8s.io", "customresourcedefinitions")


class Registry:
    """Served resource types, indexed for the lookups every request makes.

    ``generation`` of a group/version grows whenever its set of types changes, so
    discovery and OpenAPI documents can carry a hash clients cache by.
    """

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._gv_generation: dict[str, int] = {}
        self._with_status: dict[GroupResource, int] = {}
        self._changes = 0
        for resource_type in BUILTIN_TYPES:
            self.add(resource_type)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def add(self, resource_type: ResourceType) -> None:
        key = (resource_type.group, resource_type.version, resource_type.plural)
        self.remove(*key)
        self._by_gvr[key] = resource_type
        self._touch(resource_type.api_version)
        if resource_type.has_status:
            resource = resource_type.group_resource
            self._with_status[resource] = self._with_status.get(resource, 0) + 1

    def remove(self, group: str, version: str, plural: str) -> None:
        removed = self._by_gvr.pop((group, version, plural), None)
        if removed is None:
            return
        self._touch(removed.api_version)
        resource = removed.group_resource
        if removed.has_status:
            self._with_status[resource] -= 1
            if not self._with_status[resource]:
                del self._with_status[resource]

    def has_status_subresource(self, resource: GroupResource) -> bool:
        """Whether writes to the resource's objects split spec and status."""
        return resource in self._with_status

    def _touch(self, group_version: str) -> None:
        self._changes += 1
        self._gv_generation[group_version] = self._changes

    def in_group_version(self, group_version: str) -> list[ResourceType]:
        return [t for t in self._by_gvr.values() if t.api_version == group_version]

    def group_versions(self) -> list[str]:
        """Served group/versions in registration order, without duplicates."""
        return list(dict.fromkeys(t.api_version for t in self._by_gvr.values()))

    def gv_generation(self, group_version: str) -> int:
        return self._gv_generation.get(group_version, 0)
