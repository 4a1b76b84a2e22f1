"""Drift detection and correction (``spec.driftDetection``, helm-controller's): run when the
release is in sync and the mode is ``warn`` or ``enabled``, on the release's own schedule.

``run`` reads the release's manifest from its record, and for each object reads the live
one and asks the API server what a forced server-side apply of the manifest's object
would make of it (dry run); ``reconcile.drift`` decides what differs. In ``enabled`` mode
the drifted objects are then applied for real (a deleted one is created again). Objects
are read one at a time, as the release's identity, and never cached: the cost is two
requests per object per check, on the release's interval. ``report`` adds the Drifted
condition (and an Event naming the objects) to what an in-sync report says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from controller import metrics
from controller.api import DriftMode, ReleaseSpec
from controller.keys import ObjectKey
from controller.kube.cache import spec_version
from controller.kube.client import ApiError, NotFound, Unreachable
from controller.kube.discovery import Discovery, Located
from controller.outcome import Outcome
from controller.reconcile import drift
from controller.reconcile.actions import in_sync
from controller.reconcile.actions.context import ActionContext
from controller.reconcile.attempt import Attempt
from controller.reconcile.manifest import declared_namespace, manifest_objects
from controller.reconcile.report import Report, Tell
from controller.releases import ObservedRelease, read_stored
from controller.status import DRIFTED, FALSE, TRUE, UNKNOWN, Condition, EventNote

log = logging.getLogger(__name__)

APPLY_PATCH = "application/apply-patch+yaml"
APPLY = {"fieldManager": drift.FIELD_MANAGER, "force": "true"}
DRY_RUN = {**APPLY, "dryRun": "All"}
SHOWN = 5
"""Objects named in a condition message or Event; the rest are counted."""
SHOWN_PATHS = 3


Seen = tuple[tuple[Located, str | None], ...]
"""Objects compared, each with its live version (``spec_version``; None when missing)."""


@dataclass(frozen=True)
class DriftTools:
    """What drift checks share in the process."""

    discovery: Discovery
    seen: Callable[[ObjectKey, Seen], None] = field(default=lambda owner, objects: None)
    """Told which objects a HelmRelease's check compared, and their versions (so that a
    later change of one of them can wake it)."""


@dataclass(frozen=True)
class Drift:
    """One object that is not as the manifest says."""

    name: str
    """``Kind namespace/name`` (``Kind name`` when cluster-scoped)."""
    paths: tuple[str, ...]
    """JSON pointers of the fields that differ; empty when the object is missing."""

    def __str__(self) -> str:
        if not self.paths:
            return f"{self.name} is missing"
        more = len(self.paths) - SHOWN_PATHS
        paths = ", ".join(self.paths[:SHOWN_PATHS]) + (f" and {more} more" if more > 0 else "")
        return f"{self.name} ({paths})"


@dataclass(frozen=True)
class Checked:
    """What a drift check found and did."""

    mode: DriftMode
    objects: int
    """Objects compared."""
    drifts: tuple[Drift, ...] = ()
    failures: tuple[str, ...] = ()
    """Objects that could not be compared or corrected, each with the API server's answer."""
    unreadable: str | None = None
    """Why the release's manifest could not be read (nothing was compared)."""

    @property
    def corrected(self) -> bool:
        return self.mode is DriftMode.ENABLED and bool(self.drifts) and not self.failures


@dataclass(frozen=True)
class _Object:
    name: str
    path: str
    applied: dict[str, Any]


@dataclass(frozen=True)
class _Compared:
    """One object compared: where it is, its live version, and its drift (None: none)."""

    located: Located
    version: str | None
    drift: tuple[Drift, _Object] | None = None


async def run(
    context: ActionContext, spec: ReleaseSpec, observed: ObservedRelease, tools: DriftTools
) -> Checked:
    """Compare (and in ``enabled`` mode correct) the live objects of the release."""
    try:
        async with asyncio.timeout(context.timeout):
            checked = await _run(context, spec, observed, tools)
    except TimeoutError:
        raise Unreachable(
            0, "Timeout", f"drift check of release {context.release} took over {context.timeout:g}s"
        ) from None
    metrics.DRIFT_CHECKS.labels(result=_result(checked)).inc()
    return checked


async def _run(
    context: ActionContext, spec: ReleaseSpec, observed: ObservedRelease, tools: DriftTools
) -> Checked:
    mode = spec.drift.mode
    try:
        stored = await read_stored(context.client, observed)
    except ValueError as error:
        return Checked(mode, 0, unreadable=f"the release record cannot be read: {error}")
    if stored is None:
        return Checked(mode, 0, unreadable=f"release {context.release} has no record")
    manifest = await asyncio.to_thread(lambda: list(manifest_objects(stored.manifest)))
    objects = [obj for obj in manifest if not drift.left_out(obj)]
    drifts: list[Drift] = []
    failures: list[str] = []
    to_apply: list[tuple[Drift, _Object]] = []
    seen: list[tuple[Located, str | None]] = []
    for obj in objects:
        found = await _compare(context, spec, obj, tools.discovery)
        if isinstance(found, str):
            failures.append(found)
            continue
        seen.append((found.located, found.version))
        if found.drift is not None:
            drifts.append(found.drift[0])
            to_apply.append(found.drift)
    tools.seen(ObjectKey(spec.group, spec.namespace, spec.name), tuple(seen))
    if mode is DriftMode.ENABLED:
        for found_drift, target in to_apply:
            failure = await _apply(context, target, found_drift)
            if failure is not None:
                failures.append(failure)
    return Checked(mode, len(objects), tuple(drifts), tuple(failures))


async def _compare(
    context: ActionContext, spec: ReleaseSpec, obj: Mapping[str, Any], discovery: Discovery
) -> _Compared | str:
    """One object compared (with what to apply to correct its drift), or why it could
    not be."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    namespace = declared_namespace(obj) or context.release.namespace
    located = await discovery.locate(obj["apiVersion"], kind, name, namespace)
    if located is None:
        return f"{kind} {name}: kind {obj['apiVersion']}/{kind} is not served"
    shown = f"{kind} {namespace}/{name}" if located.namespaced else f"{kind} {name}"
    ignored = drift.ignored_paths(spec.drift.ignore, obj)
    if drift.WHOLE_OBJECT in ignored:
        return _Compared(located, None)
    applied = drift.as_helm_applied(obj, context.release, located.namespaced)
    try:
        live = await context.client.request("GET", located.path, as_user=context.as_user)
    except NotFound:
        target = _Object(shown, located.path, drift.with_live_values(applied, None, ignored))
        return _Compared(located, None, (Drift(shown, ()), target))
    except Unreachable:
        raise  # the API server, not the object: retried as any API failure
    except ApiError as error:
        return f"{shown}: {error}"
    compared = _Compared(located, spec_version(live))
    if drift.left_out(live):
        return compared
    applied = drift.with_live_values(applied, live, ignored)
    try:
        result = await _send(context, located.path, applied, DRY_RUN)
    except Unreachable:
        raise
    except ApiError as error:
        return f"{shown}: {error}"
    paths = drift.differences(live, result, ignored)
    if not paths:
        return compared
    return replace(compared, drift=(Drift(shown, paths), _Object(shown, located.path, applied)))


async def _apply(context: ActionContext, target: _Object, found: Drift) -> str | None:
    try:
        await _send(context, target.path, target.applied, APPLY)
    except Unreachable:
        raise
    except ApiError as error:
        return f"{target.name}: {error}"
    log.debug("corrected %s", found, extra={"release": str(context.release)})
    return None


async def _send(
    context: ActionContext, path: str, body: Mapping[str, Any], params: Mapping[str, str]
) -> dict[str, Any]:
    return await context.client.request(
        "PATCH", path, params=params, body=body, content_type=APPLY_PATCH, as_user=context.as_user
    )


def _reconcile_result(checked: Checked) -> str:
    """The reconcile's result label: an error only when drift could not be checked or
    corrected (drift reported in ``warn`` mode is the check working)."""
    failed = checked.unreadable is not None or bool(checked.failures)
    return "error" if failed else ("success" if checked.corrected else "noop")


def _result(checked: Checked) -> str:
    if checked.unreadable or checked.failures:
        return "failed"
    if not checked.drifts:
        return "none"
    return "corrected" if checked.mode is DriftMode.ENABLED else "detected"


def report(
    checked: Checked, attempt: Attempt, observed: ObservedRelease, *, released_shown: bool
) -> Report:
    """What an in-sync report says, plus the Drifted condition and, when something drifted
    or could not be checked, an Event naming the objects."""
    base = in_sync.report(attempt, observed, released_shown=released_shown)
    verdict = _verdict(checked)
    condition = Condition(DRIFTED, verdict.status, verdict.reason, verdict.message)
    assert base.status is not None  # an in-sync report always writes the status
    status = replace(base.status, conditions=(*base.status.conditions, condition), dropped=())
    if verdict.event_action is None:
        return replace(base, status=status, action="drift")
    event = EventNote(verdict.reason, verdict.message, verdict.event_action, verdict.warning)
    return replace(
        base,
        outcome=verdict.outcome,
        action="drift",
        result=_reconcile_result(checked),
        status=status,
        event=event,
        log=(logging.WARNING if verdict.warning else logging.INFO, verdict.message),
        tell=verdict.tell,
    )


RESYNC = Outcome.resync()


@dataclass(frozen=True)
class _Verdict:
    """The Drifted condition a check leads to, and what else its report says."""

    status: str
    reason: str
    message: str
    event_action: str | None = None
    """The Event's action; None: no Event."""
    warning: bool = False
    outcome: Outcome = RESYNC
    tell: Tell = Tell.ALWAYS


def _verdict(checked: Checked) -> _Verdict:
    drifts = _named(checked.drifts)
    if checked.unreadable is not None:
        message = f"drift not checked: {checked.unreadable}"
        return _Verdict(
            UNKNOWN,
            "DriftCheckFailed",
            message,
            "DetectDrift",
            True,
            Outcome.retry(),
            Tell.ON_CHANGE,
        )
    if checked.failures:
        message = f"drift not corrected: {_named(checked.failures)}"
        message += f"; drifted: {drifts}" if drifts else ""
        return _Verdict(
            TRUE, "DriftCorrectionFailed", message, "CorrectDrift", True, Outcome.retry()
        )
    if not checked.drifts:
        message = f"no drift in the {checked.objects} objects of the release"
        return _Verdict(FALSE, "NoDriftDetected", message)
    if checked.corrected:
        return _Verdict(FALSE, "DriftCorrected", f"drift corrected: {drifts}", "CorrectDrift")
    message = f"drift detected (mode warn, not corrected): {drifts}"
    return _Verdict(TRUE, "DriftDetected", message, "DetectDrift", True, tell=Tell.ON_CHANGE)


def _named(items: tuple[Any, ...]) -> str:
    more = len(items) - SHOWN
    return "; ".join(str(item) for item in items[:SHOWN]) + (
        f"; and {more} more" if more > 0 else ""
    )
