"""The controllers: the status of each kind of workload, from what its pods do (``pods``).

Deployments, ReplicaSets, StatefulSets and DaemonSets are ready when their template's pods
run ready, else they report every replica unready (a Deployment: ``Available=False``,
reason ``MinimumReplicasUnavailable``, and ``Progressing=True``, reason
``ReplicaSetUpdated``). Their status follows the current template alone: a rollout is
immediate (``simulator`` scales the old ReplicaSet to zero at once, so no old pod keeps an
unready rollout Available as it would on a cluster), and the next template that runs ready
makes the workload ready again.

A suspended Job does not start (``Suspended``, no ``startTime``) until it is resumed. A Job
completes when its pod succeeds (``Complete``, ``succeeded`` = its completions),
fails when its pod fails or restarts after failing (``Failed``, reason
``BackoffLimitExceeded``; ``failed`` = backoffLimit + 1 pods under ``restartPolicy: Never``,
the one restarted pod under ``OnFailure``) and stays active while its pod runs.
PersistentVolumeClaims are Bound and LoadBalancer Services get an address.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..store import meta, now_rfc3339
from .fates import restart_policy
from .fields import as_dict, condition, int_field, replicas, template
from .pods import pod_run

DEFAULT_BACKOFF_LIMIT = 6


def template_hash(pod_template: dict[str, Any]) -> str:
    """A stable short hash of a pod template (the ``pod-template-hash`` of its pods).

    Templates that differ only by null or empty fields hash the same: they decode to the same
    Go template, which is how helm and the Deployment controller compare them."""
    canonical = json.dumps(_without_empty(pod_template), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def runs_ready(obj: dict[str, Any]) -> bool:
    """Whether the pods of a workload's template run ready."""
    return pod_run(obj, template(obj)).ready


def deployment_status(obj: dict[str, Any]) -> dict[str, Any]:
    wanted = replicas(obj)
    ready = wanted if runs_ready(obj) else 0
    status: dict[str, Any] = {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": wanted,
        "updatedReplicas": wanted,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": _deployment_conditions(ready == wanted),
    }
    if ready < wanted:
        status["unavailableReplicas"] = wanted - ready
    return status


def _deployment_conditions(available: bool) -> list[dict[str, Any]]:
    if not available:
        return [
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
            condition("Progressing", "True", "ReplicaSetUpdated", "ReplicaSet is progressing."),
        ]
    progressed = "ReplicaSet has successfully progressed."
    return [
        condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        ),
        condition("Progressing", "True", "NewReplicaSetAvailable", progressed),
    ]


def replicaset_status(obj: dict[str, Any]) -> dict[str, Any]:
    wanted = replicas(obj)
    ready = wanted if runs_ready(obj) else 0
    return {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": wanted,
        "fullyLabeledReplicas": wanted,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }


def statefulset_status(obj: dict[str, Any]) -> dict[str, Any]:
    wanted = replicas(obj)
    ready = wanted if runs_ready(obj) else 0
    revision = f"{meta(obj)['name']}-{template_hash(template(obj))}"
    return {
        "observedGeneration": meta(obj).get("generation", 1),
        "replicas": wanted,
        "readyReplicas": ready,
        "currentReplicas": wanted,
        "updatedReplicas": wanted,
        "availableReplicas": ready,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def daemonset_status(obj: dict[str, Any]) -> dict[str, Any]:
    ready = 1 if runs_ready(obj) else 0
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


def job_status(obj: dict[str, Any]) -> dict[str, Any]:
    spec = as_dict(obj.get("spec"))
    if spec.get("suspend") is True:  # not started: no pod, no startTime, until resumed
        return {"conditions": [condition("Suspended", "True", "JobSuspended", "Job suspended")]}
    run = pod_run(obj, template(obj))
    now = now_rfc3339()
    if run.phase == "Succeeded":
        return _job_complete(int_field(spec, "completions", 1), now)
    if run.phase == "Failed" or run.restarting:
        return _job_failed(_failed_pods(obj), now)
    return {"startTime": now, "active": 1, "ready": int(run.ready), "terminating": 0}


def _failed_pods(job: dict[str, Any]) -> int:
    """Pods a failed Job counts: one per try under ``Never``, the restarted one otherwise."""
    if restart_policy(template(job)) != "Never":
        return 1
    return int_field(as_dict(job.get("spec")), "backoffLimit", DEFAULT_BACKOFF_LIMIT) + 1


def _job_complete(completions: int, now: str) -> dict[str, Any]:
    message = "Reached expected number of succeeded pods"
    return {
        "startTime": now,
        "completionTime": now,
        "succeeded": completions,
        "ready": 0,
        "terminating": 0,
        "conditions": [
            condition("SuccessCriteriaMet", "True", "CompletionsReached", message),
            condition("Complete", "True", "CompletionsReached", message),
        ],
    }


def _job_failed(failed: int, now: str) -> dict[str, Any]:
    message = "Job has reached the specified backoff limit"
    return {
        "startTime": now,
        "failed": failed,
        "ready": 0,
        "terminating": 0,
        "conditions": [
            condition("FailureTarget", "True", "BackoffLimitExceeded", message),
            condition("Failed", "True", "BackoffLimitExceeded", message),
        ],
    }


def pvc_status(obj: dict[str, Any]) -> dict[str, Any]:
    spec = as_dict(obj.get("spec"))
    status: dict[str, Any] = {"phase": "Bound"}
    if spec.get("accessModes"):
        status["accessModes"] = spec["accessModes"]
    requested = as_dict(as_dict(spec.get("resources")).get("requests")).get("storage")
    if requested:
        status["capacity"] = {"storage": requested}
    return status


def service_status(obj: dict[str, Any]) -> dict[str, Any]:
    if as_dict(obj.get("spec")).get("type") != "LoadBalancer":
        return {"loadBalancer": {}}
    return {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
