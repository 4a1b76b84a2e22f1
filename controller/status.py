"""What a HelmRelease's status says, and the Events that tell users what happened.

``render_status`` computes the whole new status from the previous one (pure):
conditions keep their ``lastTransitionTime`` until their status flips, and Ready is
summarised from the others by ``summarize_ready`` alone. ``write_status`` patches the
status subresource only when the rendered status differs, retrying on conflicts
(``patch_retrying``, shared with the finalizer patches).
``emit_event`` records an ``events.k8s.io/v1`` Event; its failures are only logged.
Messages are one line, trimmed, and never contain values.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.api import PLURAL
from controller.kube.cache import resource_version
from controller.kube.client import ApiError, Conflict, KubeClient, NotFound, resource_path

log = logging.getLogger(__name__)

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
CHART_FETCHED = "ChartFetched"
RELEASED = "Released"
DEPLOYED = "Deployed"
ROLLED_BACK = "RolledBack"
TESTED = "Tested"
DRIFTED = "Drifted"
CONDITION_ORDER = (
    READY,
    RECONCILING,
    STALLED,
    CHART_FETCHED,
    RELEASED,
    DEPLOYED,
    ROLLED_BACK,
    TESTED,
)
PREREQUISITES = (CHART_FETCHED, RELEASED, DEPLOYED)
"""Ready is True only when all of these are."""

# helm-operator's phases; the reason of each of its conditions (ChartFetched, Deployed,
# Released) is the phase that set it, as helm-operator wrote them.
PHASE_CHART_FETCHED = "ChartFetched"
PHASE_CHART_FETCH_FAILED = "ChartFetchFailed"
PHASE_INSTALLING = "Installing"
PHASE_UPGRADING = "Upgrading"
PHASE_DEPLOYED = "Deployed"
PHASE_DEPLOY_FAILED = "DeployFailed"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_TESTING = "Testing"
PHASE_TESTED = "Tested"
PHASE_TEST_FAILED = "TestFailed"
PHASE_ROLLING_BACK = "RollingBack"
PHASE_ROLLED_BACK = "RolledBack"
PHASE_ROLLBACK_FAILED = "RollbackFailed"

CONDITION_FIELDS = (
    "type",
    "status",
    "reason",
    "message",
    "lastTransitionTime",
    "lastUpdateTime",
    "observedGeneration",
)
"""What a condition in a rendered status holds."""
MESSAGE_LIMIT = 1000  # an events.k8s.io note holds at most 1 kB
CONFLICT_RETRIES = 4
REPORTING_CONTROLLER = "helmrelease-operator"
EVENT_ACTION_LIMIT = 128


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class StatusUpdate:
    """What one reconcile learned: the rest of the status is kept as it was."""

    phase: str | None = None
    conditions: tuple[Condition, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Status fields to set; a None value removes the field."""
    dropped: tuple[str, ...] = ()
    """Types of conditions that no longer apply (e.g. RolledBack once an upgrade succeeds)."""


def one_line(message: str) -> str:
    """``message`` on one line, whitespace collapsed, cut to MESSAGE_LIMIT characters."""
    if len(message) <= MESSAGE_LIMIT and message.isprintable() and "  " not in message:
        return message.strip(" ")  # one line already (isprintable: no other whitespace)
    flat = re.sub(r"\s+", " ", message).strip()
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 3] + "..."


def summarize_ready(conditions: Mapping[str, Condition]) -> Condition:
    """The Ready condition implied by all the others (the only place that decides it).

    False when stalled or when a prerequisite failed (even while retrying: the failure
    stands until an attempt succeeds); Unknown while work is in progress or a
    prerequisite is not known yet; True when every prerequisite holds.
    """
    stalled = conditions.get(STALLED)
    if stalled is not None and stalled.status == TRUE:
        return Condition(READY, FALSE, stalled.reason, stalled.message)
    for kind in PREREQUISITES:
        condition = conditions.get(kind)
        if condition is not None and condition.status == FALSE:
            return Condition(READY, FALSE, condition.reason, condition.message)
    reconciling = conditions.get(RECONCILING)
    if reconciling is not None and reconciling.status == TRUE:
        return Condition(READY, UNKNOWN, reconciling.reason, reconciling.message)
    for kind in PREREQUISITES:
        condition = conditions.get(kind)
        if condition is None:
            return Condition(READY, UNKNOWN, "Progressing", f"{kind} is not known yet")
        if condition.status != TRUE:
            return Condition(READY, UNKNOWN, condition.reason, condition.message)
    released = conditions[RELEASED]
    return Condition(READY, TRUE, released.reason, released.message)


def render_status(
    previous: Any, update: StatusUpdate, *, generation: int, now: str
) -> dict[str, Any]:
    """The complete new status: ``previous`` with ``update`` applied and Ready recomputed."""
    old = previous if isinstance(previous, Mapping) else {}
    status = _carried_over({key: value for key, value in old.items() if key != "conditions"})
    for key, value in update.fields.items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value
    status["observedGeneration"] = generation
    if update.phase is not None:
        status["phase"] = update.phase
    status["conditions"] = _render_conditions(old.get("conditions"), update, generation, now)
    return status


def shows_already(old: Any, update: StatusUpdate, generation: int) -> bool:
    """Whether ``old`` is what ``render_status`` would make of it (so nothing is to be
    written), told without rendering: the common case of a release in sync, looked at
    again at every resync. False whenever in doubt (the status is then rendered)."""
    if not isinstance(old, Mapping):
        return False
    listed = old.get("conditions")
    conditions = _previous_conditions(listed)
    if (
        old.get("observedGeneration") != generation
        or (update.phase is not None and old.get("phase") != update.phase)
        or not isinstance(listed, list)
        or [body.get("type") if isinstance(body, Mapping) else None for body in listed]
        != _in_order(conditions)
        or any(kind in conditions for kind in update.dropped)
        or isinstance(old.get("revision"), int)  # _carried_over would move it
    ):
        return False
    for key, value in update.fields.items():
        if (key in old) if value is None else (old.get(key) != value):
            return False
    current = {kind: _as_condition(body) for kind, body in conditions.items()}
    current.update({condition.type: condition for condition in update.conditions})
    return all(
        _shown(conditions.get(condition.type), condition, generation)
        for condition in (*update.conditions, summarize_ready(current))
    )


def _shown(body: Mapping[str, Any] | None, condition: Condition, generation: int) -> bool:
    """Whether ``body`` is exactly what ``_condition_body`` renders of ``condition``."""
    return (
        body is not None
        and len(body) == len(CONDITION_FIELDS)
        and (body.get("status"), body.get("reason"), body.get("message"))
        == (condition.status, condition.reason, one_line(condition.message))
        and body.get("observedGeneration") == generation
        and bool(body.get("lastTransitionTime"))
        and bool(body.get("lastUpdateTime"))
    )


def _in_order(conditions: Mapping[str, Any]) -> list[str]:
    """Condition types in the order a rendered status lists them."""
    order = {kind: index for index, kind in enumerate(CONDITION_ORDER)}
    return sorted(conditions, key=lambda kind: (order.get(kind, len(order)), kind))


def _carried_over(status: dict[str, Any]) -> dict[str, Any]:
    """The fields of an older status in today's form: 0.1 kept helm's revision number in
    ``revision``, which is now the chart version (a string in the schema); left as it
    was, it would make every write of the status invalid."""
    revision = status.get("revision")
    if isinstance(revision, int) and not isinstance(revision, bool):
        del status["revision"]
        status.setdefault("lastReleaseRevision", revision)
    return status


def ready_of(status: Any) -> str:
    """The status ("True"/"False"/"Unknown") of the Ready condition in a status body."""
    return condition_status(status, READY) or UNKNOWN


def condition_status(status: Any, kind: str) -> str | None:
    """The status of condition ``kind`` in a status body; None when it holds none."""
    return condition_statuses(status).get(kind)


def condition_of(status: Any, kind: str) -> Condition | None:
    """Condition ``kind`` of a status body; None when it holds none."""
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    body = _previous_conditions(conditions).get(kind)
    return _as_condition(body) if body is not None else None


def condition_statuses(status: Any) -> dict[str, str]:
    """The status ("True"/"False"/"Unknown") of each condition in a status body, by type."""
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    return {
        kind: str(body.get("status", UNKNOWN))
        for kind, body in _previous_conditions(conditions).items()
    }


def _render_conditions(
    previous: Any, update: StatusUpdate, generation: int, now: str
) -> list[dict[str, Any]]:
    old = {
        kind: body
        for kind, body in _previous_conditions(previous).items()
        if kind not in update.dropped
    }
    rendered = {kind: dict(body) for kind, body in old.items()}
    current = {kind: _as_condition(body) for kind, body in old.items()}
    changed = [*update.conditions]
    current.update({condition.type: condition for condition in update.conditions})
    changed.append(summarize_ready(current))
    for condition in changed:
        rendered[condition.type] = _condition_body(
            condition, old.get(condition.type), generation, now
        )
    return [rendered[kind] for kind in _in_order(rendered)]


def _condition_body(
    condition: Condition, previous: Mapping[str, Any] | None, generation: int, now: str
) -> dict[str, Any]:
    """``lastTransitionTime`` moves when the status flips; ``lastUpdateTime`` (helm-operator's)
    when anything it says changes: an unchanged condition renders exactly as before."""
    message = one_line(condition.message)
    old = previous or {}
    flipped = old.get("status") != condition.status
    said = (condition.status, condition.reason, message)
    updated = said != (old.get("status"), old.get("reason"), old.get("message"))
    return {
        "type": condition.type,
        "status": condition.status,
        "reason": condition.reason,
        "message": message,
        "lastTransitionTime": (None if flipped else old.get("lastTransitionTime")) or now,
        "lastUpdateTime": (None if updated else old.get("lastUpdateTime")) or now,
        "observedGeneration": generation,
    }


def _previous_conditions(conditions: Any) -> dict[str, Mapping[str, Any]]:
    """Conditions of a status body by type, skipping malformed entries."""
    if not isinstance(conditions, list):
        return {}
    return {
        body["type"]: body
        for body in conditions
        if isinstance(body, Mapping) and isinstance(body.get("type"), str)
    }


def _as_condition(body: Mapping[str, Any]) -> Condition:
    return Condition(
        type=str(body.get("type")),
        status=str(body.get("status", UNKNOWN)),
        reason=str(body.get("reason", "")),
        message=str(body.get("message", "")),
    )


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_path(obj: Mapping[str, Any], subresource: str | None = None) -> str:
    """API path of a HelmRelease body (any served version)."""
    group, _, version = str(obj.get("apiVersion", "")).partition("/")
    metadata = obj["metadata"]
    return resource_path(
        group,
        version,
        PLURAL,
        namespace=metadata["namespace"],
        name=metadata["name"],
        subresource=subresource,
    )


async def patch_retrying(
    client: KubeClient,
    obj: Mapping[str, Any],
    make_patch: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    *,
    subresource: str | None = None,
) -> Mapping[str, Any] | None:
    """Merge-patch a HelmRelease with ``make_patch(current)``; the object afterwards.

    ``make_patch`` returns None when ``current`` needs no change (then nothing is sent
    and ``current`` is returned). The patch carries the resourceVersion it was computed
    from, so a concurrent change gives a 409: the object is read again and the patch
    computed again from it. None when the object is gone (404 on the patch or the
    re-read); raises ApiError when the write keeps failing.
    """
    current = obj
    for attempt in range(CONFLICT_RETRIES):
        patch = make_patch(current)
        if patch is None:
            return current
        metadata = {**patch.get("metadata", {}), "resourceVersion": resource_version(current)}
        try:
            return await client.request(
                "PATCH",
                object_path(current, subresource),
                body={**patch, "metadata": metadata},
                content_type="application/merge-patch+json",
            )
        except NotFound:
            return None
        except Conflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise
        fresh = await client.get(object_path(current))
        if fresh is None:
            return None
        current = fresh
    raise AssertionError("unreachable")  # pragma: no cover


async def write_status(
    client: KubeClient,
    obj: Mapping[str, Any],
    update: StatusUpdate,
    *,
    generation: int | None = None,
    now: Callable[[], str] = rfc3339_now,
) -> Mapping[str, Any]:
    """Apply ``update`` to the status of ``obj``; the object as it is afterwards.

    ``generation`` is the one whose spec the update is about (default: ``obj``'s). It
    is the ``observedGeneration`` written even when a conflict makes the status be
    rendered again from a fresher object: a newer spec was not looked at. Nothing is
    written when the rendered status equals the current one. A deleted object is
    returned as it was (nobody will read its status). Raises ApiError when the write
    keeps failing.
    """
    observed = generation_of(obj) if generation is None else generation

    def status_patch(current: Mapping[str, Any]) -> dict[str, Any] | None:
        old = current.get("status") or {}
        if shows_already(old, update, observed):
            return None
        new = render_status(old, update, generation=observed, now=now())
        if new == old:
            return None
        removed = {key: None for key in old if key not in new}  # merge patch: null deletes
        return {"status": {**removed, **new}}

    written = await patch_retrying(client, obj, status_patch, subresource="status")
    return written if written is not None else obj


def generation_of(obj: Mapping[str, Any]) -> int:
    """``metadata.generation`` of an object (0 when it has none)."""
    generation = obj["metadata"].get("generation")
    return generation if isinstance(generation, int) else 0


@dataclass(frozen=True)
class EventNote:
    """One Event about a HelmRelease: ``reason`` is CamelCase, ``note`` one line."""

    reason: str
    note: str
    action: str
    warning: bool = False


async def emit_event(client: KubeClient, obj: Mapping[str, Any], event: EventNote) -> None:
    """Record ``event`` as an events.k8s.io/v1 Event about ``obj``; API failures are only logged."""
    metadata = obj["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": f"{name}.", "namespace": namespace},
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": socket.gethostname()[:128],
        "action": event.action[:EVENT_ACTION_LIMIT],
        "reason": event.reason,
        "note": one_line(event.note),
        "type": "Warning" if event.warning else "Normal",
        "regarding": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind", "HelmRelease"),
            "namespace": namespace,
            "name": name,
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
    }
    path = resource_path("events.k8s.io", "v1", "events", namespace=namespace)
    try:
        await client.request("POST", path, body=body)
    except ApiError as error:
        log.warning(
            "could not record Event %s: %s",
            event.reason,
            error,
            extra={"hr": f"{namespace}/{name}"},
        )
