"""Workload simulation: plays controller-manager and kubelet so ``helm --wait`` can finish.

After ``delay`` seconds, a changed workload gets the status fields helm 3 and
helm 4 check: a Deployment gets a ReplicaSet it controls and becomes Available,
StatefulSets and DaemonSets become ready, Jobs complete, bare Pods run (hook
Pods succeed), PersistentVolumeClaims are Bound and LoadBalancer Services get an
address. A workload whose pod template uses an image containing ``fail`` or has
the annotation ``apiserver.testing/fail: "true"`` never becomes ready (Deployments,
StatefulSets, DaemonSets) or fails (Jobs, Pods).

Settling runs from ``loop.call_later`` callbacks: store writes are synchronous, so
no task is needed and stopping just cancels the pending timers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

from .resources import GroupResource
from .store import Store, WatchEvent, meta, now_rfc3339

FAIL_ANNOTATION = "apiserver.testing/fail"
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pod_spec(obj: dict[str, Any], resource: GroupResource) -> dict[str, Any]:
    if resource == PODS:
        return _dict(obj.get("spec"))
    return _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec"))


def fails(obj: dict[str, Any], resource: GroupResource) -> bool:
    """Whether a workload is marked to fail: an image containing "fail" or the annotation."""
    template_meta = _dict(_dict(_dict(obj.get("spec")).get("template")).get("metadata"))
    for metadata in (meta(obj), template_meta):
        if _dict(metadata.get("annotations")).get(FAIL_ANNOTATION) == "true":
            return True
    spec = _pod_spec(obj, resource)
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    return any("fail" in str(_dict(c).get("image", "")) for c in containers)


def _replicas(obj: dict[str, Any]) -> int:
    value = _dict(obj.get("spec")).get("replicas", 1)
    return value if isinstance(value, int) else 1


def _template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def _condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    now = now_rfc3339()
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _same_conditions(old: Any, new: list[dict[str, Any]]) -> bool:
    """Conditions equal but for their timestamps (so settling twice writes nothing)."""

    def strip(conditions: Any) -> list[tuple[Any, ...]]:
        return [(c.get("type"), c.get("status"), c.get("reason")) for c in conditions or []]

    return strip(old) == strip(new)


def deployment_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    replicas = _replicas(obj)
    ready = 0 if failing else replicas
    status: dict[str, Any] = {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    if failing and replicas:
        status["unavailableReplicas"] = replicas
        status["conditions"] = [
            _condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
            _condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet is progressing."),
        ]
    else:
        status["conditions"] = [
            _condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
            _condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                "ReplicaSet has successfully progressed.",
            ),
        ]
    return status


def replicaset_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    replicas = _replicas(obj)
    ready = 0 if failing else replicas
    return {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }


def statefulset_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    replicas = _replicas(obj)
    ready = 0 if failing else replicas
    revision = f"{meta(obj)['name']}-{_template_hash(_dict(obj.get('spec')).get('template') or {})}"
    return {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": replicas,
        "readyReplicas": ready,
        "currentReplicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": ready,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def daemonset_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    ready = 0 if failing else 1
    return {
        "observedGeneration": meta(obj).get("generation", 1),
        "desiredNumberScheduled": 1,
        "currentNumberScheduled": 1,
        "updatedNumberScheduled": 1,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "numberAvailable": ready,
        "numberUnavailable": 1 - ready,
    }


def job_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    now = now_rfc3339()
    if failing:
        return {
            "startTime": now,
            "failed": 1,
            "conditions": [
                _condition(
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                _condition(
                    "Failed",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ],
        }
    return {
        "startTime": now,
        "completionTime": now,
        "succeeded": 1,
        "conditions": [
            _condition(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
            _condition(
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
        ],
    }


def pod_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    if failing:
        return {"phase": "Failed", "startTime": now_rfc3339()}
    if _dict(meta(obj).get("annotations")).get("helm.sh/hook"):
        return {"phase": "Succeeded", "startTime": now_rfc3339()}
    return {
        "phase": "Running",
        "startTime": now_rfc3339(),
        "conditions": [
            _condition("Initialized", "True", ""),
            _condition("ContainersReady", "True", ""),
            _condition("Ready", "True", ""),
            _condition("PodScheduled", "True", ""),
        ],
    }


def pvc_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    spec = _dict(obj.get("spec"))
    status: dict[str, Any] = {"phase": "Bound"}
    if spec.get("accessModes"):
        status["accessModes"] = spec["accessModes"]
    requested = _dict(_dict(spec.get("resources")).get("requests")).get("storage")
    if requested:
        status["capacity"] = {"storage": requested}
    return status


def service_status(obj: dict[str, Any], failing: bool) -> dict[str, Any]:
    if _dict(obj.get("spec")).get("type") != "LoadBalancer":
        return {"loadBalancer": {}}
    return {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}


STATUS_FUNCTIONS: dict[GroupResource, Callable[[dict[str, Any], bool], dict[str, Any]]] = {
    DEPLOYMENTS: deployment_status,
    REPLICASETS: replicaset_status,
    STATEFULSETS: statefulset_status,
    DAEMONSETS: daemonset_status,
    JOBS: job_status,
    PODS: pod_status,
    PVCS: pvc_status,
    SERVICES: service_status,
}
TERMINAL_ONCE = frozenset({JOBS, PODS})
"""Kinds whose status, once set, stays (a finished Job does not run again)."""


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
        if resource in TERMINAL_ONCE and _dict(obj.get("status")).get(
            "phase" if resource == PODS else "conditions"
        ):
            return
        failing = fails(obj, resource)
        if resource == DEPLOYMENTS:
            self._roll_out(obj, failing)
        status = STATUS_FUNCTIONS[resource](obj, failing)
        current = _dict(obj.get("status"))
        unchanged = {k: v for k, v in current.items() if k != "conditions"} == {
            k: v for k, v in status.items() if k != "conditions"
        } and _same_conditions(current.get("conditions"), status.get("conditions", []))
        if unchanged:
            return
        self._store.update(
            resource,
            {**obj, "status": status},
            entry.managed,
            subresource="status",
        )

    def _roll_out(self, deployment: dict[str, Any], failing: bool) -> None:
        """Make the ReplicaSet of the current template exist and scale older ones to zero."""
        md = meta(deployment)
        namespace, uid = md.get("namespace", ""), md["uid"]
        spec = _dict(deployment.get("spec"))
        template = _dict(spec.get("template"))
        template_hash = _template_hash(template)
        current_name = f"{md['name']}-{template_hash}"
        for rs in list(self._store.objects(REPLICASETS, namespace)):
            rs_meta = meta(rs)
            owned = any(r.get("uid") == uid for r in rs_meta.get("ownerReferences") or [])
            if owned and rs_meta["name"] != current_name and _replicas(rs) != 0:
                entry = self._store.get(REPLICASETS, namespace, rs_meta["name"])
                assert entry is not None
                scaled = {**rs, "spec": {**_dict(rs.get("spec")), "replicas": 0}}
                self._store.update(REPLICASETS, scaled, entry.managed)
        existing = self._store.get(REPLICASETS, namespace, current_name)
        replicas = _replicas(deployment)
        if existing is not None:
            if _replicas(existing.obj) != replicas:
                scaled = {
                    **existing.obj,
                    "spec": {**_dict(existing.obj.get("spec")), "replicas": replicas},
                }
                self._store.update(REPLICASETS, scaled, existing.managed)
            return
        self._store.create(REPLICASETS, _replicaset_for(deployment, template_hash), {})


def _replicaset_for(deployment: dict[str, Any], template_hash: str) -> dict[str, Any]:
    md = meta(deployment)
    spec = _dict(deployment.get("spec"))
    template = _dict(spec.get("template"))
    template_meta = _dict(template.get("metadata"))
    labels = {**_dict(template_meta.get("labels")), TEMPLATE_HASH_LABEL: template_hash}
    selector = _dict(spec.get("selector"))
    match_labels = {**_dict(selector.get("matchLabels")), TEMPLATE_HASH_LABEL: template_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{md['name']}-{template_hash}",
            "namespace": md.get("namespace", ""),
            "labels": labels,
            "annotations": {"deployment.kubernetes.io/revision": "1"},
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
            "replicas": _replicas(deployment),
            "selector": {**selector, "matchLabels": match_labels},
            "template": {**template, "metadata": {**template_meta, "labels": labels}},
        },
    }
