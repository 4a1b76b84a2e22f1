"""Install or upgrade: ``helm upgrade [--install]`` of the chart and values, then its record.

helm's own output is not read (it holds the whole chart, manifest and values); the
release record it left behind says which revision it made and in what status, after a
success as after a failure (a failed upgrade still records a failed revision). The
watch of release records usually delivers that record before helm's exit is noticed:
then the index answers; otherwise the record is read from the API.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from controller.diffs import values_diff
from controller.helm import HelmResult
from controller.keys import ObjectKey
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext, helm_failure
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import (
    NOT_RECONCILING,
    NOT_STALLED,
    Report,
    deployed,
    logged,
    retrying,
)
from controller.reconcile.state import release_labels
from controller.releases import ObservedRelease, read_release, read_stored
from controller.status import (
    DEPLOYED,
    FALSE,
    PHASE_DEPLOY_FAILED,
    PHASE_INSTALLING,
    PHASE_SUCCEEDED,
    PHASE_UPGRADING,
    RECONCILING,
    RELEASED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)


@dataclass(frozen=True)
class Applied:
    """How helm went, and the release record it left (None: there is none)."""

    helm: HelmResult
    record: ObservedRelease | None
    changed_values: tuple[str, ...] = ()
    """With ``--log-release-diffs``: the value paths the upgrade changed (never values)."""


async def run(ctx: ActionContext, attempt: Attempt, *, install: bool) -> Applied:
    """Apply the attempt's chart and values; raises ApiError when the record cannot be read."""
    spec = attempt.spec
    labels = release_labels(ObjectKey(spec.group, spec.namespace, spec.name), attempt.desired)
    changed = await _changed_values(ctx, attempt) if ctx.log_diffs and not install else ()
    started = math.floor(time.time())  # helm's record times are whole seconds
    result = await ctx.runner.upgrade(
        release=ctx.release,
        chart_path=attempt.chart.path,
        values=attempt.values,
        options=spec.options,
        install=install,
        labels=labels,
    )
    record = _written_by_helm(ctx, labels, started) or await read_release(ctx.client, ctx.release)
    return Applied(result, record, changed)


async def _changed_values(ctx: ActionContext, attempt: Attempt) -> tuple[str, ...]:
    """Which value paths differ from those of the release's current revision."""
    if ctx.observed is None:
        return ()
    try:
        stored = await read_stored(ctx.client, ctx.observed)
    except ValueError:
        return ()  # not a record we can read: nothing to compare with
    if stored is None:
        return ()
    return tuple(values_diff(stored.config, attempt.values))


def progress(attempt: Attempt, reason: str, *, install: bool) -> StatusUpdate:
    """The status while helm runs: Reconciling (kstatus: in progress), Deployed unknown,
    the chart version attempted, as helm-operator said it."""
    phase = PHASE_INSTALLING if install else PHASE_UPGRADING
    release = attempt.spec.release
    return StatusUpdate(
        phase=phase,
        conditions=(
            attempt.fetched,
            Condition(DEPLOYED, UNKNOWN, phase, f"{phase.lower()} release {release}"),
            Condition(RECONCILING, TRUE, phase, reason),
            NOT_STALLED,
        ),
        fields=attempt.release_fields(),
    )


def report(applied: Applied, attempt: Attempt, *, install: bool) -> Report:
    spec, chart, helm = attempt.spec, attempt.chart, applied.helm
    record = applied.record
    verb, done = ("Install", "installed") if install else ("Upgrade", "upgraded")
    what = f"chart {chart.name} {chart.version} as release {spec.release}"
    fields: dict[str, object] = {**attempt.release_fields()}
    if record is not None:
        fields.update(lastReleaseRevision=record.revision, releaseStatus=record.status)
    if helm.ok:
        message = attempt.noted(f"{done} {what}, revision {record.revision if record else None}")
        # helm-operator's revision: the chart version deployed, set once it is.
        fields.update(revision=chart.version, lastAppliedDigest=attempt.desired)
        phase, reconciling = PHASE_SUCCEEDED, NOT_RECONCILING
        deployed_now = deployed(spec.release, record.status if record else None)
    else:
        message = f"{verb.lower()} of {what} failed: {helm_failure(helm, spec.options.timeout)}"
        phase, reconciling = PHASE_DEPLOY_FAILED, retrying(message)
        deployed_now = Condition(DEPLOYED, FALSE, phase, message)
    return Report(
        outcome=Outcome.resync() if helm.ok else Outcome.retry(),
        action="install" if install else "upgrade",
        result="success" if helm.ok else "error",
        status=StatusUpdate(
            phase=phase,
            conditions=(
                attempt.fetched,
                Condition(RELEASED, TRUE if helm.ok else FALSE, phase, message),
                deployed_now,
                reconciling,
                NOT_STALLED,
            ),
            fields=fields,
        ),
        event=EventNote(
            f"{verb}{'Succeeded' if helm.ok else 'Failed'}", message, verb, not helm.ok
        ),
        log=logged(helm.ok, _with_changes(message, applied.changed_values)),
    )


def _with_changes(message: str, changed: tuple[str, ...]) -> str:
    return f"{message}; values changed: {', '.join(changed)}" if changed else message


def _written_by_helm(
    ctx: ActionContext, labels: Mapping[str, str], started: float
) -> ObservedRelease | None:
    """The record the helm just run left, if the index already has it in its final state.

    Under the release's lock only our helm makes revisions: the revision after the one
    observed before helm started, changed since then, carrying our labels and no longer
    pending, is its own.
    """
    latest = ctx.index.latest(ctx.release)
    before = ctx.observed.revision if ctx.observed is not None else 0
    if latest is None or latest.pending or latest.revision != before + 1:
        return None
    if latest.modified_at is None or latest.modified_at < started:
        return None
    if any(latest.labels.get(name) != value for name, value in labels.items()):
        return None
    return latest
