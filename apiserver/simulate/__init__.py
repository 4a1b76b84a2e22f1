"""Workload simulation: plays controller-manager and kubelet, so that ``helm --wait``,
hooks and ``helm test`` end as they would on a cluster.

``delay`` seconds after a workload's spec changes, it gets the status fields helm 3 and
helm 4 read. What each container of a pod does (exits with a code, runs ready, runs but
never ready) is told from the pod template alone, by the rules of ``fates``: annotations
forcing an outcome, podinfo's fault switches, the shell's ``exit N``, commands that never
end. ``pods`` (the kubelet) turns that into a pod's phase, conditions and container
states; ``workloads`` (the controllers) into the status of Deployments and their
ReplicaSets, StatefulSets, DaemonSets and Jobs, and binds PersistentVolumeClaims and
gives LoadBalancer Services an address; ``simulator`` decides when statuses are written.

What the helms read from these statuses:

- hooks and ``helm test``: helm 3 watches each hook Pod's ``status.phase`` (``Succeeded``
  passes, ``Failed`` fails) and each hook Job's ``Complete``/``Failed`` conditions; helm 4's
  status watcher, with its hook readers, reads the same fields. Anything else is still in
  progress until ``--timeout``.
- ``--wait``: helm 3 polls Pods' ``Ready`` condition, a Deployment's new ReplicaSet (its
  controller reference and template, ``readyReplicas`` against ``spec.replicas`` minus
  ``maxUnavailable``) and ``observedGeneration``, StatefulSets' and DaemonSets' ready and
  updated counts, and with ``--wait-for-jobs`` Jobs' ``succeeded`` and ``failed`` counts.
  helm 4 computes kstatus: a Deployment's replica counts against ``spec.replicas`` and its
  ``Available`` and ``Progressing`` (``NewReplicaSetAvailable``) conditions; a Pod that is
  Running and Ready, or finished; a Pod whose container is in ``CrashLoopBackOff`` has
  failed; a Job that has started (or, with ``--wait-for-jobs``, completed).
"""

from .simulator import Simulator

__all__ = ["Simulator"]
