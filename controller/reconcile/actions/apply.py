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

from controller.helm import HelmResult
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext, helm_failure
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, deployed, logged
from controller.reconcile.state import release_labels
from controller.releases import ObservedRelease, read_release
from controller.status import (
    FALSE,
    PHASE_DEPLOY_FAILED,
    PHASE_INSTALLING,
    PHASE_SUCCEEDED,
    PHASE_UPGRADING,
    RECONCILING,
    RELEASED,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
)


@dataclass(frozen=True)
class Applied:
    """How helm went, and the release record it left (None: there is none)."""

    helm: HelmResult
    record: ObservedRelease | None


async def run(ctx: ActionContext, attempt: Attempt, *, install: bool) -> Applied:
    """Apply the attempt's chart and values; raises ApiError when the record cannot be read."""
    spec = attempt.spec
    labels = release_labels(spec.namespace, spec.name, attempt.desired)
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
    return Applied(result, record)


def progress(attempt: Attempt, reason: str, *, install: bool, shown: bool) -> StatusUpdate | None:
    """The status while helm runs; None for a HelmRelease whose status says nothing yet
    (it misleads nobody meanwhile, and its first status is the outcome: one write less)."""
    if not shown:
        return None
    phase = PHASE_INSTALLING if install else PHASE_UPGRADING
    return StatusUpdate(
        phase=phase,
        conditions=(attempt.fetched, Condition(RECONCILING, TRUE, phase, reason), NOT_STALLED),
        fields=attempt.fields,
    )


def report(applied: Applied, attempt: Attempt, *, install: bool) -> Report:
    spec, chart, helm = attempt.spec, attempt.chart, applied.helm
    record = applied.record
    verb, done = ("Install", "installed") if install else ("Upgrade", "upgraded")
    what = f"chart {chart.name} {chart.version} as release {spec.release}"
    if helm.ok:
        reason = f"{verb}Succeeded"
        message = f"{done} {what}, revision {record.revision if record else None}"
    else:
        reason = f"{verb}Failed"
        message = f"{verb.lower()} of {what} failed: {helm_failure(helm, spec.options.timeout)}"
    fields: dict[str, object] = {**attempt.release_fields()}
    if record is not None:
        fields.update(revision=record.revision, releaseStatus=record.status)
    if helm.ok:
        fields["lastAppliedDigest"] = attempt.desired
    released = Condition(RELEASED, TRUE if helm.ok else FALSE, reason, message)
    return Report(
        outcome=Outcome.resync() if helm.ok else Outcome.retry(),
        action="install" if install else "upgrade",
        result="success" if helm.ok else "error",
        status=StatusUpdate(
            phase=PHASE_SUCCEEDED if helm.ok else PHASE_DEPLOY_FAILED,
            conditions=(
                attempt.fetched,
                released,
                deployed(spec.release, record.status if record else None),
                NOT_RECONCILING,
                NOT_STALLED,
            ),
            fields=fields,
        ),
        event=EventNote(reason, message, verb, warning=not helm.ok),
        log=logged(helm.ok, message),
    )


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
