"""Install or upgrade: ``helm upgrade [--install]`` of the chart and values, then its record.

helm's own output is not read (it holds the whole chart, manifest and values); the
release record it left behind says which revision it made and in what status, after a
success as after a failure (a failed upgrade still records a failed revision). The
watch of release records usually delivers that record before helm's exit is noticed:
then the index answers. After a success helm wrote it before exiting, so it is awaited
from the watch a moment (``RECORD_WAIT``; the record then wakes nobody else); otherwise,
or when it does not come, the record is read from the API.

A success clears what a failure left (the failed spec, the rollback count, RolledBack);
with tests enabled the release is not Released yet: the tests run next. A failure is
remembered with the spec that failed and the revision it made, and the next reconcile
decides at once what follows (uninstall, rollback or stop: ``state``/``decide``); only a
failure to reach the API server that left no revision is retried with backoff instead.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from controller.diffs import values_diff
from controller.helm import HelmResult
from controller.keys import ObjectKey
from controller.outcome import Outcome
from controller.reconcile.actions.context import (
    ActionContext,
    helm_failure,
    rejected,
    transient,
)
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
    PHASE_DEPLOYED,
    PHASE_INSTALLING,
    PHASE_SUCCEEDED,
    PHASE_TESTING,
    PHASE_UPGRADING,
    RECONCILING,
    RELEASED,
    ROLLED_BACK,
    TESTED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)

RECORD_WAIT = 1.0
"""Seconds a successful helm's final record is waited for from the watch before it is read
from the API: helm wrote it before it exited, so it is on its way."""

CLEARED_FAILURE = {"lastFailedDigest": None, "lastFailedRevision": None, "rollbackCount": None}
"""A success (or a new spec) forgets the failure of the one before."""


@dataclass(frozen=True)
class Applied:
    """How helm went, and the release record it left (None: there is none)."""

    helm: HelmResult
    record: ObservedRelease | None
    previous: int = 0
    """The latest revision before helm ran (0: there was none)."""
    changed_values: tuple[str, ...] = ()
    """With ``--log-release-diffs``: the value paths the upgrade changed (never values)."""

    @property
    def made(self) -> ObservedRelease | None:
        """The record of the revision this helm made, if it made one."""
        record = self.record
        return record if record is not None and record.revision > self.previous else None


async def run(ctx: ActionContext, attempt: Attempt, *, install: bool) -> Applied:
    """Apply the attempt's chart and values; raises ApiError when the record cannot be read."""
    spec = attempt.spec
    labels = release_labels(ObjectKey(spec.group, spec.namespace, spec.name), attempt.desired)
    changed = await _changed_values(ctx, attempt) if ctx.log_diffs and not install else ()
    result = await ctx.runner.upgrade(
        release=ctx.release,
        chart_path=attempt.chart.path,
        values=attempt.values,
        options=spec.options,
        install=install,
        labels=labels,
        as_user=ctx.as_user,
    )
    record = await _record_of(ctx, result, labels)
    previous = ctx.observed.revision if ctx.observed is not None else 0
    return Applied(result, record, previous, changed)


async def _record_of(
    ctx: ActionContext, result: HelmResult, labels: Mapping[str, str]
) -> ObservedRelease | None:
    """The record helm left: from the index, once the watch delivers the final one a helm
    that succeeded wrote before it exited (briefly waited for); else read from the API."""
    written = functools.partial(_written_by_helm, ctx, labels)
    within = RECORD_WAIT if result.ok else 0.0
    record = await ctx.index.until(ctx.release, written, within)
    return record or await read_release(ctx.client, ctx.release)


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


def progress(attempt: Attempt, reason: str, *, install: bool, retry: bool = False) -> StatusUpdate:
    """The status while helm runs: Reconciling (kstatus: in progress), Deployed unknown,
    the chart version attempted, as helm-operator said it. A new attempt (not the retry of
    a rolled back one) starts counting rollbacks from zero."""
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
        fields={**attempt.release_fields(), **({} if retry else {"rollbackCount": None})},
    )


def report(applied: Applied, attempt: Attempt, *, install: bool) -> Report:
    spec, chart, helm = attempt.spec, attempt.chart, applied.helm
    verb = "Install" if install else "Upgrade"
    what = f"chart {chart.name} {chart.version} as release {spec.release}"
    fields: dict[str, object] = {**attempt.release_fields()}
    if applied.record is not None:
        fields.update(
            lastReleaseRevision=applied.record.revision, releaseStatus=applied.record.status
        )
    if helm.ok:
        return _succeeded(applied, attempt, fields, install=install, what=what)
    made = applied.made
    # a rejected upgrade changed nothing: said first (helm's error may be cut short)
    undo = made is not None and (install or not rejected(helm))
    refused = " (refused by the API server: nothing to roll back)" if made and not undo else ""
    failure = helm_failure(helm, spec.options.timeout)
    message = f"{verb.lower()} of {what} failed{refused}: {failure}"
    if made is None and transient(helm):
        outcome, reconciling = Outcome.retry(), retrying(message)
    else:  # what follows (uninstall, rollback or stop) is decided at once
        outcome = Outcome.requeue(0.0)
        reconciling = Condition(RECONCILING, TRUE, PHASE_DEPLOY_FAILED, message)
        fields.update(
            lastFailedDigest=attempt.desired,
            # the revision to undo, if any: a failed install is uninstalled, a rejected
            # upgrade changed nothing (helm records it failed all the same)
            lastFailedRevision=made.revision if made is not None and undo else None,
        )
    return Report(
        outcome=outcome,
        action=verb.lower(),
        result="error",
        status=StatusUpdate(
            phase=PHASE_DEPLOY_FAILED,
            conditions=(
                attempt.fetched,
                Condition(RELEASED, FALSE, PHASE_DEPLOY_FAILED, message),
                Condition(DEPLOYED, FALSE, PHASE_DEPLOY_FAILED, message),
                reconciling,
                NOT_STALLED,
            ),
            fields=fields,
        ),
        event=EventNote(f"{verb}Failed", message, verb, warning=True),
        log=logged(False, _with_changes(message, applied.changed_values)),
    )


def _succeeded(
    applied: Applied, attempt: Attempt, fields: dict[str, object], *, install: bool, what: str
) -> Report:
    """Deployed; Released too, unless tests are to run first (then they run at once)."""
    spec, record = attempt.spec, applied.record
    verb, done = ("Install", "installed") if install else ("Upgrade", "upgraded")
    message = attempt.noted(f"{done} {what}, revision {record.revision if record else None}")
    # helm-operator's revision: the chart version (a git chart: commit) deployed.
    fields.update(
        CLEARED_FAILURE, revision=attempt.chart.revision, lastAppliedDigest=attempt.desired
    )
    deployed_now = deployed(spec.release, record.status if record else None)
    dropped: tuple[str, ...]
    if spec.test.enable:
        testing = f"{message}; its tests run next"
        phase, dropped = PHASE_DEPLOYED, (ROLLED_BACK,)
        conditions: tuple[Condition, ...] = (
            Condition(RELEASED, UNKNOWN, PHASE_TESTING, testing),
            Condition(RECONCILING, TRUE, PHASE_TESTING, testing),
        )
    else:
        phase, dropped = PHASE_SUCCEEDED, (ROLLED_BACK, TESTED)
        conditions = (Condition(RELEASED, TRUE, PHASE_SUCCEEDED, message), NOT_RECONCILING)
    return Report(
        outcome=Outcome.requeue(0.0) if spec.test.enable else Outcome.resync(),
        action=verb.lower(),
        result="success",
        status=StatusUpdate(
            phase=phase,
            conditions=(attempt.fetched, *conditions, deployed_now, NOT_STALLED),
            fields=fields,
            dropped=dropped,
        ),
        event=EventNote(f"{verb}Succeeded", message, verb),
        log=logged(True, _with_changes(message, applied.changed_values)),
    )


def _with_changes(message: str, changed: tuple[str, ...]) -> str:
    return f"{message}; values changed: {', '.join(changed)}" if changed else message


def _written_by_helm(
    ctx: ActionContext, labels: Mapping[str, str], latest: ObservedRelease | None
) -> bool:
    """Whether ``latest``, the index's latest record, is the one the helm just run left,
    in its final state.

    Under the release's lock only our helm makes revisions: the revision after the one
    observed before helm started, carrying our labels (the digest of this attempt) and no
    longer pending, is its own. (helm's ``modifiedAt`` label cannot tell when it was
    written: helm copies it from the revision before.)
    """
    before = ctx.observed.revision if ctx.observed is not None else 0
    if latest is None or latest.pending or latest.revision != before + 1:
        return False
    return all(latest.labels.get(name) == value for name, value in labels.items())
