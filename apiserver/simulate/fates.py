"""What a container does, told from the pod template alone: no container ever runs here.

The first rule that matches decides, for each container of a pod:

1. annotation ``apiserver.testing/outcome`` on the object or its pod template: ``succeed``
   does its job (as in 6), ``fail`` exits 1, ``run`` runs for ever, ready;
2. annotation ``apiserver.testing/fail: "true"`` there, or an image containing ``fail`` (any
   container or init container): exits 1, the older spelling of ``outcome: fail``;
3. a ``readinessProbe`` and the argument ``--unready`` (podinfo's ``faults.unready``): runs
   for ever, never ready;
4. ``sh``, ``/bin/sh``, ``bash`` or ``/bin/bash`` ``-c`` a script ``exit N``, after any
   ``sleep S`` lines (podinfo's ``faults.testFail`` and hook Jobs): exits N;
5. a command that never ends by construction, ``while true``, ``while :``,
   ``while sleep ...``, ``sleep infinity``, ``tail -f`` (podinfo's ``faults.testTimeout``):
   runs for ever, ready;
6. anything else does its job: exits 0 in a pod that runs to completion (``restartPolicy``
   ``Never`` or ``OnFailure``), runs ready in one that restarts (``Always``, the default).

What the kubelet and the controllers make of these fates is in ``pods`` and ``workloads``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .fields import annotations_of, as_dict, as_list

OUTCOME_ANNOTATION = "apiserver.testing/outcome"
FAIL_ANNOTATION = "apiserver.testing/fail"
SHELLS = frozenset({"sh", "/bin/sh", "bash", "/bin/bash"})
COMPLETING_POLICIES = frozenset({"Never", "OnFailure"})
"""Restart policies of pods that run to completion; anything else restarts (``Always``)."""
_EXIT_SCRIPT = re.compile(r"(?:\s*sleep\s+\d+(?:\.\d+)?\s*[;\n])*\s*exit\s+(\d+)\s*;?\s*")
_ENDLESS = re.compile(r"\bwhile\s+(?:true\b|:|sleep\b)|\bsleep\s+infinity\b|\btail\s+-f\b")


@dataclass(frozen=True)
class Fate:
    """What one container does: exits with ``exit_code``, or runs for ever (None), ready or not."""

    exit_code: int | None
    ready: bool = True

    @property
    def runs(self) -> bool:
        return self.exit_code is None

    @property
    def serves(self) -> bool:
        """Whether the container runs ready."""
        return self.runs and self.ready


RUNS = Fate(None)
NEVER_READY = Fate(None, ready=False)


def restart_policy(pod: dict[str, Any]) -> str:
    """The pod's restart policy, ``Always`` when unset (the API server's default)."""
    policy = as_dict(pod.get("spec")).get("restartPolicy")
    return policy if isinstance(policy, str) else "Always"


def container_fates(obj: dict[str, Any], pod: dict[str, Any]) -> list[tuple[dict[str, Any], Fate]]:
    """Each container of ``pod`` (a Pod, or the pod template of ``obj``) with its fate."""
    spec = as_dict(pod.get("spec"))
    completes = restart_policy(pod) in COMPLETING_POLICIES
    containers = [as_dict(c) for c in as_list(spec.get("containers"))]
    forced = _forced(obj, pod, completes)
    return [(c, forced or _fate(c, completes)) for c in containers]


def _forced(obj: dict[str, Any], pod: dict[str, Any], completes: bool) -> Fate | None:
    """The fate the annotations or a failing image give every container, if any."""
    marks = {**annotations_of(obj), **annotations_of(pod)}
    outcome = marks.get(OUTCOME_ANNOTATION)
    if outcome == "succeed":
        return _does_its_job(completes)
    if outcome == "run":
        return RUNS
    if outcome == "fail" or marks.get(FAIL_ANNOTATION) == "true" or _failing_image(pod):
        return Fate(1)
    return None


def _failing_image(pod: dict[str, Any]) -> bool:
    spec = as_dict(pod.get("spec"))
    containers = as_list(spec.get("containers")) + as_list(spec.get("initContainers"))
    return any("fail" in str(as_dict(c).get("image", "")) for c in containers)


def _fate(container: dict[str, Any], completes: bool) -> Fate:
    argv = [str(a) for a in as_list(container.get("command")) + as_list(container.get("args"))]
    if "readinessProbe" in container and "--unready" in argv:
        return NEVER_READY
    code = _exit_code(argv)
    if code is not None:
        return Fate(code)
    if _ENDLESS.search(" ".join(argv)):
        return RUNS
    return _does_its_job(completes)


def _exit_code(argv: list[str]) -> int | None:
    """N for a shell running ``exit N`` (after any sleeps), else None."""
    if len(argv) != 3 or argv[0] not in SHELLS or argv[1] != "-c":
        return None
    match = _EXIT_SCRIPT.fullmatch(argv[2])
    return int(match.group(1)) % 256 if match else None  # the shell keeps the low byte


def _does_its_job(completes: bool) -> Fate:
    return Fate(0) if completes else RUNS
