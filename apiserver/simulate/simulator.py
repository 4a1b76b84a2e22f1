"""When statuses are written: ``delay`` seconds after a workload's spec changes.

Settling runs from ``loop.call_later`` callbacks: store writes are synchronous, so no task
is needed and stopping just cancels the pending timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..resources import GroupResource
from ..store import Store, WatchEvent, meta
from .fields import annotations_of, as_dict, replicas, template
from .pods import pod_status
from .workloads import (
    daemonset_status,
    deployment_status,
    job_status,
    pvc_status,
    replicaset_status,
    service_status,
    statefulset_status,
    template_hash,
)

TEMPLATE_HASH_LABEL = "pod-template-hash"
DEPLOYMENTS = GroupResource("apps", "deployments")
REPLICASETS = GroupResource("apps", "replicasets")
STATEFULSETS = GroupResource("apps", "statefulsets")
DAEMONSETS = GroupResource("apps", "daemonsets")
JOBS = GroupResource("batch", "jobs")
PODS = GroupResource("", "pods")
PVCS = GroupResource("", "persistentvolumeclaims")
SERVICES = GroupResource("", "services")

Key = tuple[GroupResource, str, str]

STATUS_FUNCTIONS: dict[GroupResource, Callable[[dict[str, Any]], dict[str, Any]]] = {
    DEPLOYMENTS: deployment_status,
    REPLICASETS: replicaset_status,
    STATEFULSETS: statefulset_status,
    DAEMONSETS: daemonset_status,
    JOBS: job_status,
    PODS: pod_status,
    PVCS: pvc_status,
    SERVICES: service_status,
}
RUN_ONCE = frozenset({JOBS, PODS})
"""Kinds whose status, once written, stays: a pod runs once, and so does a Job."""


class Simulator:
    """Settles workload statuses ``delay`` seconds after their spec changes."""

    def __init__(self, store: Store, delay: float = 0.05) -> None:
        self._store = store
        self._delay = delay
        self._pending: dict[Key, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._store.add_listener(self._on_event)
        for resource in STATUS_FUNCTIONS:
            for obj in list(self._store.objects(resource, None)):
                self._schedule(resource, obj)

    def stop(self) -> None:
        if self._loop is not None:
            self._store.remove_listener(self._on_event)
            self._loop = None
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def _on_event(self, event: WatchEvent) -> None:
        if event.resource not in STATUS_FUNCTIONS or event.type == "DELETED":
            return
        old = event.old
        if old is not None and meta(old).get("generation") == meta(event.obj).get("generation"):
            return  # a status or metadata write: nothing for the "controllers" to do
        self._schedule(event.resource, event.obj)

    def _schedule(self, resource: GroupResource, obj: dict[str, Any]) -> None:
        md = meta(obj)
        key: Key = (resource, md.get("namespace", ""), md["name"])
        if key in self._pending or self._loop is None:
            return
        self._pending[key] = self._loop.call_later(self._delay, self._settle, key)

    def _settle(self, key: Key) -> None:
        self._pending.pop(key, None)
        resource, namespace, name = key
        entry = self._store.get(resource, namespace, name)
        if entry is None or meta(entry.obj).get("deletionTimestamp"):
            return
        obj = entry.obj
        current = as_dict(obj.get("status"))
        if resource in RUN_ONCE and current.get("startTime"):
            return
        if resource == DEPLOYMENTS:
            self._roll_out(obj)
        status = STATUS_FUNCTIONS[resource](obj)
        if _same_status(current, status):
            return
        self._store.update(resource, {**obj, "status": status}, entry.managed, subresource="status")

    def _roll_out(self, deployment: dict[str, Any]) -> None:
        """Make the ReplicaSet of the current template exist and scale older ones to zero."""
        md = meta(deployment)
        namespace, uid = md.get("namespace", ""), md["uid"]
        current_name = f"{md['name']}-{template_hash(template(deployment))}"
        for rs in list(self._store.objects(REPLICASETS, namespace)):
            rs_meta = meta(rs)
            owned = any(r.get("uid") == uid for r in rs_meta.get("ownerReferences") or [])
            if owned and rs_meta["name"] != current_name and replicas(rs) != 0:
                self._scale(namespace, rs_meta["name"], 0)
        if self._store.get(REPLICASETS, namespace, current_name) is None:
            self._store.create(REPLICASETS, _replicaset_for(deployment), {})
        else:
            self._scale(namespace, current_name, replicas(deployment))

    def _scale(self, namespace: str, name: str, count: int) -> None:
        entry = self._store.get(REPLICASETS, namespace, name)
        assert entry is not None
        if replicas(entry.obj) == count:
            return
        scaled = {**entry.obj, "spec": {**as_dict(entry.obj.get("spec")), "replicas": count}}
        self._store.update(REPLICASETS, scaled, entry.managed)


def _same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Statuses equal but for their conditions' timestamps (settling twice writes nothing)."""

    def strip(conditions: Any) -> list[tuple[Any, ...]]:
        return [(c.get("type"), c.get("status"), c.get("reason")) for c in conditions or []]

    rest_old = {k: v for k, v in old.items() if k != "conditions"}
    rest_new = {k: v for k, v in new.items() if k != "conditions"}
    return rest_old == rest_new and strip(old.get("conditions")) == strip(new.get("conditions"))


def _replicaset_for(deployment: dict[str, Any]) -> dict[str, Any]:
    md = meta(deployment)
    spec = as_dict(deployment.get("spec"))
    pod_template = template(deployment)
    hashed = template_hash(pod_template)
    template_meta = as_dict(pod_template.get("metadata"))
    labels = {**as_dict(template_meta.get("labels")), TEMPLATE_HASH_LABEL: hashed}
    selector = as_dict(spec.get("selector"))
    match_labels = {**as_dict(selector.get("matchLabels")), TEMPLATE_HASH_LABEL: hashed}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{md['name']}-{hashed}",
            "namespace": md.get("namespace", ""),
            "labels": labels,
            # the Deployment controller copies the Deployment's annotations
            "annotations": {**annotations_of(deployment), "deployment.kubernetes.io/revision": "1"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": md["name"],
                    "uid": md["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas(deployment),
            "selector": {**selector, "matchLabels": match_labels},
            "template": {**pod_template, "metadata": {**template_meta, "labels": labels}},
        },
    }
