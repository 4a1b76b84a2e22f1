"""The server-side printers of the built-in kinds a user looks at: the columns and cells of the
Tables ``kubectl get`` asks for, as k8s.io/kubernetes pkg/printers/internalversion prints them.

A printer is the kind's column definitions (name, type, format, priority: 1 for the columns
``-o wide`` adds; descriptions from the API's documentation) and a function from a stored
object to its row's cells. Like the real server, which always prints wide, every row carries
every column's cell and kubectl picks the columns it shows. Cells are typed as Go's printers
type them (counts are integers, most else strings); ages are ``duration.HumanDuration`` of the
time since (``5s``, ``3m2s``, ``<unknown>`` when unset); a missing replica count is the
server's default of 1. A finished Pod's row carries the ``Completed`` row condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .crds import PrinterColumn, human_duration
from .selectors import LabelSelector, Operator, Requirement

Cells = Callable[[dict[str, Any], datetime], list[Any]]
Conditions = Callable[[dict[str, Any]], list[dict[str, str]]]


@dataclass(frozen=True)
class Printer:
    """A kind's Table: its columns, the cells of an object's row and the row's conditions."""

    columns: tuple[PrinterColumn, ...]
    cells: Cells
    conditions: Conditions | None = None


# --- column definitions -------------------------------------------------------------------------

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LABELS_DOC = "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/"
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."
_READY_DOC = "Number of the pod with ready state"


def _column(
    name: str, description: str, kind: str = "string", *, wide: bool = False, fmt: str = ""
) -> PrinterColumn:
    return PrinterColumn(name, kind, "", description, fmt, 1 if wide else 0)


NAME = _column("Name", _NAME_DOC, fmt="name")
AGE = _column("Age", _AGE_DOC)
CONTAINERS = _column("Containers", _CONTAINERS_DOC, wide=True)
IMAGES = _column("Images", _IMAGES_DOC, wide=True)


def _selector_column(description: str) -> PrinterColumn:
    return _column("Selector", description, wide=True)


POD_COLUMNS = (
    NAME,
    _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _column("Status", "The aggregate status of the containers in this pod."),
    _column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted.",
    ),
    AGE,
    _column(
        "IP",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if "
        "not yet allocated.",
        wide=True,
    ),
    _column(
        "Node",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
        "candidate for scheduling by the scheduler defined in schedulerName. Once this field "
        "is set, the kubelet for this node becomes responsible for the lifecycle of this pod. "
        "This field should not be used to express a desire for the pod to be scheduled on a "
        "specific node. "
        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
        wide=True,
    ),
    _column(
        "Nominated Node",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
        "cannot be scheduled right away as preemption victims receive their graceful "
        "termination periods. This field does not guarantee that the pod will be scheduled on "
        "this node. Scheduler may decide to place the pod elsewhere if other nodes become "
        "available sooner. Scheduler may also decide to give the resources on this node to a "
        "higher priority pod that is created after preemption. As a result, this field may be "
        "different than PodSpec.nodeName when the pod is scheduled.",
        wide=True,
    ),
    _column(
        "Readiness Gates",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
        "when all its containers are ready AND all conditions specified in the readiness gates "
        'have status equal to "True" More info: '
        "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
        wide=True,
    ),
)

DEPLOYMENT_COLUMNS = (
    NAME,
    _column("Ready", _READY_DOC),
    _column(
        "Up-to-date",
        "Total number of non-terminating pods targeted by this deployment that have the "
        "desired template spec.",
    ),
    _column(
        "Available",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) "
        "targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column(
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
        "the ones affected by this deployment. It must match the pod template's labels."
    ),
)

REPLICASET_COLUMNS = (
    NAME,
    _column(
        "Desired",
        "Replicas is the number of desired pods. This is a pointer to distinguish between "
        "explicit zero and unspecified. Defaults to 1. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
        "integer",
    ),
    _column(
        "Current",
        "Replicas is the most recently observed number of non-terminating pods. More info: "
        "https://kubernetes.io/docs/concepts/workloads/controllers/replicaset",
        "integer",
    ),
    _column(
        "Ready",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        "integer",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column(
        "Selector is a label query over pods that should match the replica count. Label keys "
        "and values that must match in order to be controlled by this replica set. It must "
        f"match the pod template's labels. More info: {_LABELS_DOC}#label-selectors"
    ),
)

STATEFULSET_COLUMNS = (NAME, _column("Ready", _READY_DOC), AGE, CONTAINERS, IMAGES)

_DAEMONSET_DOC = "More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
DAEMONSET_COLUMNS = (
    NAME,
    _column(
        "Desired",
        "The total number of nodes that should be running the daemon pod (including nodes "
        f"correctly running the daemon pod). {_DAEMONSET_DOC}",
        "integer",
    ),
    _column(
        "Current",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run "
        f"the daemon pod. {_DAEMONSET_DOC}",
        "integer",
    ),
    _column(
        "Ready",
        "numberReady is the number of nodes that should be running the daemon pod and have one "
        "or more of the daemon pod running with a Ready Condition.",
        "integer",
    ),
    _column(
        "Up-to-date", "The total number of nodes that are running updated daemon pod", "integer"
    ),
    _column(
        "Available",
        "The number of nodes that should be running the daemon pod and have one or more of the "
        "daemon pod running and available (ready for at least spec.minReadySeconds)",
        "integer",
    ),
    _column(
        "Node Selector",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector "
        "which must match a node's labels for the pod to be scheduled on that node. More info: "
        "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column(
        "A label query over pods that are managed by the daemon set. Must match in order to be "
        "controlled. It must match the pod template's labels. More info: "
        f"{_LABELS_DOC}#label-selectors"
    ),
)

JOB_COLUMNS = (
    NAME,
    _column("Status", "Status of the job."),
    _column(
        "Completions",
        "The number of pods which reached phase Succeeded. The value increases monotonically "
        "for a given spec. However, it may decrease in reaction to scale down of elastic "
        "indexed jobs.",
    ),
    _column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    _selector_column(
        "A label query over pods that should match the pod count. Normally, the system sets "
        f"this field for you. More info: {_LABELS_DOC}#label-selectors"
    ),
)

_SERVICES_DOC = "https://kubernetes.io/docs/concepts/services-networking/service/"
SERVICE_COLUMNS = (
    NAME,
    _column(
        "Type",
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
        'ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a '
        "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined "
        "by the selector or if that is not specified, by manual construction of an Endpoints "
        'object or EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated '
        "and the endpoints are published as a set of endpoints rather than a virtual IP. "
        '"NodePort" builds on ClusterIP and allocates a port on every node which routes to the '
        'same endpoints as the clusterIP. "LoadBalancer" builds on NodePort and creates an '
        "external load-balancer (if supported in the current cloud) which routes to the same "
        'endpoints as the clusterIP. "ExternalName" aliases this service to the specified '
        "externalName. Several other fields do not apply to ExternalName services. More info: "
        f"{_SERVICES_DOC}#publishing-services-service-types",
    ),
    _column(
        "Cluster-IP",
        "clusterIP is the IP address of the service and is usually assigned randomly. If an "
        "address is specified manually, is in-range (as per system configuration), and is not "
        "in use, it will be allocated to the service; otherwise creation of the service will "
        "fail. This field may not be changed through updates unless the type field is also "
        "being changed to ExternalName (which requires this field to be blank) or the type "
        "field is being changed from ExternalName (in which case this field may optionally be "
        'specified, as describe above).  Valid values are "None", empty string (""), or a '
        'valid IP address. Setting this to "None" makes a "headless service" (no virtual IP), '
        "which is useful when direct endpoint connections are preferred and proxying is not "
        "required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field "
        "is specified when creating a Service of type ExternalName, creation will fail. This "
        "field will be wiped when updating a Service to type ExternalName. More info: "
        f"{_SERVICES_DOC}#virtual-ips-and-service-proxies",
    ),
    _column(
        "External-IP",
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
        "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
        "responsible for ensuring that traffic arrives at a node with this IP.  A common "
        "example is external load-balancers that are not part of the Kubernetes system.",
    ),
    _column(
        "Port(s)",
        "The list of ports that are exposed by this service. More info: "
        f"{_SERVICES_DOC}#virtual-ips-and-service-proxies",
    ),
    AGE,
    _selector_column(
        "Route service traffic to pods with label keys and values matching this selector. If "
        "empty or not present, the service is assumed to have an external process managing its "
        "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, "
        "NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: "
        f"{_SERVICES_DOC}"
    ),
)

CONFIGMAP_COLUMNS = (
    NAME,
    _column(
        "Data",
        "Data contains the configuration data. Each key must consist of alphanumeric "
        "characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the "
        "BinaryData field. The keys stored in Data must not overlap with the keys in the "
        "BinaryData field, this is enforced during validation process.",
    ),
    AGE,
)

SECRET_COLUMNS = (
    NAME,
    _column(
        "Type",
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
    ),
    _column(
        "Data",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', "
        "'_' or '.'. The serialized form of the secret data is a base64 encoded string, "
        "representing the arbitrary (possibly non-string) data value here. Described in "
        "https://tools.ietf.org/html/rfc4648#section-4",
    ),
    AGE,
)

EVENT_COLUMNS = (
    _column(
        "Last Seen", "The time at which the most recent occurrence of this event was recorded."
    ),
    _column("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _column(
        "Reason",
        "This should be a short, machine understandable string that gives the reason for the "
        "transition into the object's current status.",
    ),
    _column("Object", "The object that this event is about."),
    _column(
        "Subobject",
        "If referring to a piece of an object instead of an entire object, this string should "
        "contain a valid JSON/Go field access statement, such as "
        "desiredState.manifest.containers[2]. For example, if the object reference is to a "
        'container within a pod, this would take on a value like: "spec.containers{name}" '
        '(where "name" refers to the name of the container that triggered the event) or if no '
        'container name is specified "spec.containers[2]" (container with index 2 in this '
        "pod). This syntax is chosen only to have some well-defined way of referencing a part "
        "of an object.",
        wide=True,
    ),
    _column(
        "Source",
        "The component reporting this event. Should be a short machine understandable string.",
        wide=True,
    ),
    _column("Message", "A human-readable description of the status of this operation."),
    _column(
        "First Seen",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        wide=True,
    ),
    _column("Count", "The number of times this event has occurred.", wide=True),
    _column("Name", _NAME_DOC, wide=True, fmt="name"),
)

NAMESPACE_COLUMNS = (NAME, _column("Status", "The status of the namespace"), AGE)

SERVICEACCOUNT_COLUMNS = (
    NAME,
    _column(
        "Secrets",
        "Secrets is a list of the secrets in the same namespace that pods running using this "
        "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
        'account has a "kubernetes.io/enforce-mountable-secrets" annotation set to "true". The '
        '"kubernetes.io/enforce-mountable-secrets" annotation is deprecated since v1.32. '
        "Prefer separate namespaces to isolate access to mounted secrets. This field should "
        "not be used to find auto-generated service account token secrets for use outside of "
        "pods. Instead, tokens can be requested directly using the TokenRequest API, or "
        "service account token secrets can be manually created. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret",
    ),
    AGE,
)

SCALE_COLUMNS = (
    _column("Name", _NAME_DOC),
    _column(
        "Desired", "replicas is the desired number of instances for the scaled object.", "integer"
    ),
    _column(
        "Available",
        "replicas is the actual number of observed instances of the scaled object.",
        "integer",
    ),
    AGE,
)


# --- reading objects ----------------------------------------------------------------------------


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _time(value: Any) -> datetime | None:
    """A timestamp (RFC 3339, with or without fractions); None when unset or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: how long ago, ``<unknown>`` when unset."""
    then = _time(value)
    return "<unknown>" if then is None else human_duration((now - then).total_seconds())


def _age(obj: dict[str, Any], now: datetime) -> str:
    return since(_map(obj.get("metadata")).get("creationTimestamp"), now)


def _name(obj: dict[str, Any]) -> str:
    return _str(_map(obj.get("metadata")).get("name"))


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return _map(obj.get("spec"))


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return _map(obj.get("status"))


def _replicas(obj: dict[str, Any]) -> int:
    """spec.replicas as the server stores it: 1 when unset."""
    return _int(_spec(obj).get("replicas"), 1)


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return _map(_map(_spec(obj).get("template")).get("spec"))


def container_cells(containers: list[Any]) -> tuple[str, str]:
    """layoutContainerCells: the containers' names and images, comma-separated."""
    items = [_map(container) for container in containers]
    return (
        ",".join(_str(c.get("name")) for c in items),
        ",".join(_str(c.get("image")) for c in items),
    )


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: ``k=v`` sorted and comma-separated, ``<none>`` when empty."""
    pairs = sorted(f"{key}={value}" for key, value in _map(labels).items())
    return ",".join(pairs) or "<none>"


_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector(selector: Any) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key, "" for no
    selector or an empty one; None for an operator it does not know (an error in Go)."""
    spec = _map(selector)
    requirements = [
        Requirement(str(key), Operator.EQUALS, (str(value),))
        for key, value in _map(spec.get("matchLabels")).items()
    ]
    for expression in _list(spec.get("matchExpressions")):
        expression = _map(expression)
        operator = _OPERATORS.get(_str(expression.get("operator")))
        if operator is None:
            return None
        values = tuple(sorted(str(v) for v in _list(expression.get("values"))))
        requirements.append(Requirement(_str(expression.get("key")), operator, values))
    requirements.sort(key=lambda requirement: requirement.key)
    return str(LabelSelector(tuple(requirements)))


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector: the selector, ``<none>`` when empty, ``<error>`` if bad."""
    text = label_selector(selector)
    return "<error>" if text is None else text or "<none>"


def _condition_true(conditions: Any, kind: str) -> bool:
    """Whether the first condition of type ``kind`` is True (hasJobCondition)."""
    for condition in _list(conditions):
        condition = _map(condition)
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


# --- rows ---------------------------------------------------------------------------------------


def _restartable(container: dict[str, Any] | None) -> bool:
    """A sidecar: an init container with restartPolicy Always."""
    return container is not None and container.get("restartPolicy") == "Always"


class _Restarts:
    """The restart count and the time of the last restart among some containers."""

    def __init__(self) -> None:
        self.count = 0
        self.last: datetime | None = None

    def add(self, status: dict[str, Any]) -> None:
        self.count += _int(status.get("restartCount"))
        terminated = _map(status.get("lastState")).get("terminated")
        if terminated is not None:
            finished = _time(_map(terminated).get("finishedAt"))
            if finished is not None and (self.last is None or self.last < finished):
                self.last = finished


def _terminated_reason(terminated: dict[str, Any], prefix: str) -> str:
    reason = _str(terminated.get("reason"))
    if reason:
        return prefix + reason
    signal = _int(terminated.get("signal"))
    if signal:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{_int(terminated.get('exitCode'))}"


def _init_progress(
    pod_spec: dict[str, Any], status: dict[str, Any], counts: dict[str, Any]
) -> str | None:
    """The init containers' part of printPod: the reason they give while initializing (None
    when they are done), counting restarts and ready sidecars into ``counts``."""
    init_specs = {_str(_map(c).get("name")): _map(c) for c in _list(pod_spec.get("initContainers"))}
    every, sidecars = counts["init"], counts["sidecars"]
    for index, container in enumerate(_list(status.get("initContainerStatuses"))):
        container = _map(container)
        every.add(container)
        sidecar = _restartable(init_specs.get(_str(container.get("name"))))
        if sidecar:
            sidecars.add(container)
        state = _map(container.get("state"))
        terminated = state.get("terminated")
        waiting = _map(state.get("waiting"))
        if terminated is not None and _int(_map(terminated).get("exitCode")) == 0:
            continue
        if sidecar and container.get("started") is True:
            if container.get("ready") is True:
                counts["ready"] += 1
            continue
        if terminated is not None:
            return _terminated_reason(_map(terminated), "Init:")
        reason = _str(waiting.get("reason"))
        if reason and reason != "PodInitializing":
            return "Init:" + reason
        return f"Init:{index}/{len(init_specs)}"
    return None


def pod_cells(pod: dict[str, Any], now: datetime) -> list[Any]:
    """printPod: ready containers, the status a user reads, restarts, age; IP and nodes."""
    spec, status = _spec(pod), _status(pod)
    init_containers = [_map(c) for c in _list(spec.get("initContainers"))]
    total = len(_list(spec.get("containers"))) + sum(map(_restartable, init_containers))
    phase = _str(status.get("phase"))
    reason = _str(status.get("reason")) or phase
    for condition in _list(status.get("conditions")):
        condition = _map(condition)
        if condition.get("type") == "PodScheduled" and condition.get("reason") == (
            "SchedulingGated"
        ):
            reason = "SchedulingGated"
    counts: dict[str, Any] = {"init": _Restarts(), "sidecars": _Restarts(), "ready": 0}
    initializing = _init_progress(spec, status, counts)
    restarts: _Restarts = counts["init"]
    if initializing is not None:
        reason = initializing
    if initializing is None or _condition_true(status.get("conditions"), "Initialized"):
        restarts = counts["sidecars"]
        running = False
        for container in reversed(_list(status.get("containerStatuses"))):
            container = _map(container)
            restarts.add(container)
            state = _map(container.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and _str(_map(waiting).get("reason")):
                reason = _str(_map(waiting).get("reason"))
            elif terminated is not None:
                reason = _terminated_reason(_map(terminated), "")
            elif container.get("ready") is True and state.get("running") is not None:
                running = True
                counts["ready"] += 1
        if reason == "Completed" and running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"
    deleting = bool(_map(pod.get("metadata")).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    shown_restarts = str(restarts.count)
    if restarts.count and restarts.last is not None:
        ago = human_duration((now - restarts.last).total_seconds())
        shown_restarts = f"{restarts.count} ({ago} ago)"
    ips = [_str(_map(ip).get("ip")) for ip in _list(status.get("podIPs"))]
    gates = _list(spec.get("readinessGates"))
    gates_cell = "<none>"
    if gates:
        conditions = {
            _map(c).get("type"): _map(c) for c in reversed(_list(status.get("conditions")))
        }
        passed = sum(
            1
            for gate in gates
            if conditions.get(_map(gate).get("conditionType"), {}).get("status") == "True"
        )
        gates_cell = f"{passed}/{len(gates)}"
    return [
        _name(pod),
        f"{counts['ready']}/{total}",
        reason,
        shown_restarts,
        _age(pod, now),
        (ips[0] if ips else "") or "<none>",
        _str(spec.get("nodeName")) or "<none>",
        _str(status.get("nominatedNodeName")) or "<none>",
        gates_cell,
    ]


_POD_DONE = {
    "Succeeded": {"reason": "Succeeded", "message": "The pod has completed successfully."},
    "Failed": {"reason": "Failed", "message": "The pod failed."},
}


def pod_conditions(pod: dict[str, Any]) -> list[dict[str, str]]:
    """A finished Pod's row is Completed (kubectl may hide it, as for a real server)."""
    done = _POD_DONE.get(_str(_status(pod).get("phase")))
    return [] if done is None else [{"type": "Completed", "status": "True", **done}]


def deployment_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    status = _status(obj)
    names, images = container_cells(_list(_pod_spec(obj).get("containers")))
    selector = label_selector(_spec(obj).get("selector"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_replicas(obj)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        _age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def replicaset_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    status = _status(obj)
    names, images = container_cells(_list(_pod_spec(obj).get("containers")))
    return [
        _name(obj),
        _replicas(obj),
        _int(status.get("replicas")),
        _int(status.get("readyReplicas")),
        _age(obj, now),
        names,
        images,
        format_label_selector(_spec(obj).get("selector")),
    ]


def statefulset_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    names, images = container_cells(_list(_pod_spec(obj).get("containers")))
    ready = _int(_status(obj).get("readyReplicas"))
    return [_name(obj), f"{ready}/{_replicas(obj)}", _age(obj, now), names, images]


def daemonset_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    status, pod_spec = _status(obj), _pod_spec(obj)
    names, images = container_cells(_list(pod_spec.get("containers")))
    return [
        _name(obj),
        _int(status.get("desiredNumberScheduled")),
        _int(status.get("currentNumberScheduled")),
        _int(status.get("numberReady")),
        _int(status.get("updatedNumberScheduled")),
        _int(status.get("numberAvailable")),
        format_labels(pod_spec.get("nodeSelector")),
        _age(obj, now),
        names,
        images,
        format_label_selector(_spec(obj).get("selector")),
    ]


def _job_status(obj: dict[str, Any]) -> str:
    conditions = _status(obj).get("conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _map(obj.get("metadata")).get("deletionTimestamp"):
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    succeeded = _int(status.get("succeeded"))
    if isinstance(spec.get("completions"), int):
        completions = f"{succeeded}/{spec['completions']}"
    elif _int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, completed = _time(status.get("startTime")), _time(status.get("completionTime"))
    duration = ""
    if started is not None:
        end = now if completed is None else completed
        duration = human_duration((end - started).total_seconds())
    names, images = container_cells(_list(_pod_spec(obj).get("containers")))
    return [
        _name(obj),
        _job_status(obj),
        completions,
        duration,
        _age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _load_balancer(status: dict[str, Any]) -> str:
    ingress = _list(_map(_map(status.get("loadBalancer"))).get("ingress"))
    addresses = {
        _str(_map(i).get("ip")) or _str(_map(i).get("hostname"))
        for i in ingress
        if _str(_map(i).get("ip")) or _str(_map(i).get("hostname"))
    }
    return ",".join(sorted(addresses))


def _external_ip(service: dict[str, Any]) -> str:
    """getServiceExternalIP, wide (the server prints wide: no clipping)."""
    spec = _spec(service)
    external = [str(ip) for ip in _list(spec.get("externalIPs"))]
    kind = spec.get("type")
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        balancer = _load_balancer(_status(service))
        if external:
            return ",".join([*(balancer.split(",") if balancer else []), *external])
        return balancer or "<pending>"
    if kind == "ExternalName":
        return _str(spec.get("externalName"))
    return "<unknown>"


def _ports(ports: list[Any]) -> str:
    """makePortString: ``80/TCP``, ``80:30080/TCP`` with a node port."""
    pieces = []
    for port in ports:
        port = _map(port)
        protocol = _str(port.get("protocol")) or "TCP"
        node_port = _int(port.get("nodePort"))
        number = _int(port.get("port"))
        pieces.append(
            f"{number}:{node_port}/{protocol}" if node_port > 0 else f"{number}/{protocol}"
        )
    return ",".join(pieces)


def service_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    spec = _spec(obj)
    cluster_ips = _list(spec.get("clusterIPs"))
    return [
        _name(obj),
        _str(spec.get("type")),
        str(cluster_ips[0]) if cluster_ips else "<none>",
        _external_ip(obj),
        _ports(_list(spec.get("ports"))) or "<none>",
        _age(obj, now),
        format_labels(spec.get("selector")),
    ]


def configmap_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    data = len(_map(obj.get("data"))) + len(_map(obj.get("binaryData")))
    return [_name(obj), data, _age(obj, now)]


def secret_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), _str(obj.get("type")), len(_map(obj.get("data"))), _age(obj, now)]


def _event_source(event: dict[str, Any]) -> str:
    """formatEventSource: component (else the reporting controller), then ", " and host
    (else the reporting instance) when there is one."""
    source = _map(event.get("source"))
    component = _str(source.get("component")) or _str(event.get("reportingComponent"))
    instance = _str(source.get("host")) or _str(event.get("reportingInstance"))
    return f"{component}, {instance}" if instance else component


def event_cells(event: dict[str, Any], now: datetime) -> list[Any]:
    """printEvent, of a stored (core/v1) Event whichever API serves it."""
    first = (
        since(event["firstTimestamp"], now)
        if _time(event.get("firstTimestamp"))
        else since(event.get("eventTime"), now)
    )
    last = since(event["lastTimestamp"], now) if _time(event.get("lastTimestamp")) else first
    count = _int(event.get("count"))
    series = event.get("series")
    if isinstance(series, dict):
        last = since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1  # a singleton Event of the new API has no count
    involved = _map(event.get("involvedObject"))
    kind, name = _str(involved.get("kind")).lower(), _str(involved.get("name"))
    return [
        last,
        _str(event.get("type")),
        _str(event.get("reason")),
        f"{kind}/{name}" if name else kind,
        _str(involved.get("fieldPath")),
        _event_source(event),
        _str(event.get("message")).strip(),
        first,
        count,
        _name(event),
    ]


def namespace_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), _str(_status(obj).get("phase")), _age(obj, now)]


def serviceaccount_cells(obj: dict[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), len(_list(obj.get("secrets"))), _age(obj, now)]


def scale_cells(scale: dict[str, Any], now: datetime) -> list[Any]:
    """printScale, of an autoscaling/v1 Scale."""
    return [
        _name(scale),
        _int(_spec(scale).get("replicas")),
        _int(_status(scale).get("replicas")),
        _age(scale, now),
    ]


SCALE = Printer(SCALE_COLUMNS, scale_cells)
_EVENT = Printer(EVENT_COLUMNS, event_cells)

BUILTIN: Mapping[tuple[str, str], Printer] = {
    ("", "pods"): Printer(POD_COLUMNS, pod_cells, pod_conditions),
    ("apps", "deployments"): Printer(DEPLOYMENT_COLUMNS, deployment_cells),
    ("apps", "replicasets"): Printer(REPLICASET_COLUMNS, replicaset_cells),
    ("apps", "statefulsets"): Printer(STATEFULSET_COLUMNS, statefulset_cells),
    ("apps", "daemonsets"): Printer(DAEMONSET_COLUMNS, daemonset_cells),
    ("batch", "jobs"): Printer(JOB_COLUMNS, job_cells),
    ("", "services"): Printer(SERVICE_COLUMNS, service_cells),
    ("", "configmaps"): Printer(CONFIGMAP_COLUMNS, configmap_cells),
    ("", "secrets"): Printer(SECRET_COLUMNS, secret_cells),
    ("", "events"): _EVENT,
    ("events.k8s.io", "events"): _EVENT,
    ("", "namespaces"): Printer(NAMESPACE_COLUMNS, namespace_cells),
    ("", "serviceaccounts"): Printer(SERVICEACCOUNT_COLUMNS, serviceaccount_cells),
}
"""The printers of built-in kinds, by served group and resource."""
