"""The kubelet: a pod's status from what its containers do (``fates``).

A container that exits is restarted when its pod's restart policy says so (``Always``, or
``OnFailure`` after a non-zero exit): it then waits in ``CrashLoopBackOff``, its exit in
``lastState``. Otherwise it stays ``terminated`` with its exit code, reason ``Completed``
for 0 and ``Error`` for the others. The phase follows: ``Running`` while a container runs
or restarts, else ``Failed`` when one exited non-zero, else ``Succeeded``. The pod is
Ready while it runs and every container runs ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store import meta, now_rfc3339
from .fates import Fate, container_fates, restart_policy


@dataclass(frozen=True)
class PodRun:
    """What became of a pod: its phase, whether it is Ready, whether a container restarts."""

    phase: str
    ready: bool
    restarting: bool


def pod_run(obj: dict[str, Any], pod: dict[str, Any]) -> PodRun:
    """What becomes of ``pod`` (a Pod, or the pod template of ``obj``)."""
    policy = restart_policy(pod)
    return _summary([fate for _, fate in container_fates(obj, pod)], policy)


def pod_status(obj: dict[str, Any]) -> dict[str, Any]:
    """The status the kubelet writes for a Pod once its containers have done what they do."""
    policy = restart_policy(obj)
    fates = container_fates(obj, obj)
    run = _summary([fate for _, fate in fates], policy)
    now = now_rfc3339()
    unready = [str(c.get("name", "")) for c, fate in fates if not fate.serves]
    return {
        "phase": run.phase,
        "conditions": _conditions(run, unready, now),
        "startTime": now,
        "containerStatuses": [
            _container_status(c, fate, policy, meta(obj).get("name", ""), now) for c, fate in fates
        ],
    }


def _restarts(fate: Fate, policy: str) -> bool:
    """Whether the kubelet restarts the container once it has exited."""
    if fate.exit_code is None or policy == "Never":
        return False
    return policy != "OnFailure" or fate.exit_code != 0


def _summary(fates: list[Fate], policy: str) -> PodRun:
    """The pod's phase and readiness from its containers' fates, as the kubelet derives them."""
    restarting = any(_restarts(f, policy) for f in fates)
    if restarting or any(f.runs for f in fates):
        return PodRun("Running", all(f.serves for f in fates), restarting)
    failed = any(f.exit_code for f in fates)
    return PodRun("Failed" if failed else "Succeeded", ready=False, restarting=False)


def _conditions(run: PodRun, unready: list[str], now: str) -> list[dict[str, Any]]:
    if run.phase != "Running":
        ready = ("False", "PodCompleted" if run.phase == "Succeeded" else "PodFailed", "")
    elif unready:
        message = f"containers with unready status: [{' '.join(unready)}]"
        ready = ("False", "ContainersNotReady", message)
    else:
        ready = ("True", "", "")
    started = "True" if run.phase == "Running" else "False"
    return [
        _condition("PodReadyToStartContainers", now, started),
        _condition("Initialized", now, "True"),
        _condition("Ready", now, *ready),
        _condition("ContainersReady", now, *ready),
        _condition("PodScheduled", now, "True"),
    ]


def _condition(
    kind: str, now: str, status: str, reason: str = "", message: str = ""
) -> dict[str, Any]:
    """A pod condition; reason and message only when there is one, as the kubelet writes."""
    written: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        written["reason"] = reason
    if message:
        written["message"] = message
    return written


def _container_status(
    container: dict[str, Any], fate: Fate, policy: str, pod_name: str, now: str
) -> dict[str, Any]:
    name = str(container.get("name", ""))
    status: dict[str, Any] = {
        "name": name,
        "image": container.get("image", ""),
        "imageID": "",
        "ready": fate.serves,
        "started": fate.runs,
        "restartCount": 0,
        "lastState": {},
    }
    if fate.exit_code is None:
        return {**status, "state": {"running": {"startedAt": now}}}
    exited = _terminated(fate.exit_code, now)
    if not _restarts(fate, policy):
        return {**status, "state": exited}
    back_off = f"back-off 10s restarting failed container={name} pod={pod_name}"
    waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": back_off}}
    return {**status, "restartCount": 1, "lastState": exited, "state": waiting}


def _terminated(exit_code: int, now: str) -> dict[str, Any]:
    reason = "Completed" if exit_code == 0 else "Error"
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": now,
            "finishedAt": now,
        }
    }
