"""Rollback: the upgrade of this spec (or its tests) failed; back to the revision that was
deployed before it, with the spec's rollback options.

``helm rollback`` goes to the latest revision recorded as deployed (a failed upgrade
leaves the one before it deployed). The revision it makes carries that revision's
labels, the digest label included, so the release reads as what was applied before the
failed spec. Each attempt counts (``rollbackCount``, as helm-operator counted them); the
count decides whether the upgrade is tried again (``rollback.retry``, up to
``maxRetries``). A rollback option this helm cannot honour is said in the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api import ReleaseSpec
from controller.helm import HelmResult, rollback_unsupported
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext, helm_failure
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_STALLED, Report, deployed, logged, retrying
from controller.releases import ObservedRelease, read_release
from controller.status import (
    FALSE,
    PHASE_ROLLBACK_FAILED,
    PHASE_ROLLED_BACK,
    PHASE_ROLLING_BACK,
    RECONCILING,
    ROLLED_BACK,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)


@dataclass(frozen=True)
class RolledBack:
    """How the rollback went."""

    helm: HelmResult | None
    """None: there was no deployed revision to go back to, so helm did not run."""
    target: int | None
    """The revision rolled back to."""
    record: ObservedRelease | None
    """The latest record afterwards."""
    previous: int
    """The latest revision before the rollback."""
    unsupported: tuple[str, ...] = ()
    """Rollback options this helm could not honour."""


async def run(ctx: ActionContext, spec: ReleaseSpec) -> RolledBack:
    previous = ctx.observed.revision if ctx.observed is not None else 0
    target = await read_release(ctx.client, ctx.release, status="deployed")
    if target is None:
        return RolledBack(None, None, ctx.observed, previous)
    major, _ = await ctx.runner.version()
    result = await ctx.runner.rollback(
        release=ctx.release,
        revision=target.revision,
        policy=spec.rollback,
        max_history=spec.options.max_history,
        as_user=ctx.as_user,
    )
    record = await read_release(ctx.client, ctx.release)
    unsupported = rollback_unsupported(spec.rollback, major)
    return RolledBack(result, target.revision, record, previous, unsupported)


def progress(attempt: Attempt, reason: str) -> StatusUpdate:
    return StatusUpdate(
        phase=PHASE_ROLLING_BACK,
        conditions=(
            Condition(ROLLED_BACK, UNKNOWN, PHASE_ROLLING_BACK, reason),
            Condition(RECONCILING, TRUE, PHASE_ROLLING_BACK, reason),
            NOT_STALLED,
        ),
        fields=attempt.release_fields(),
    )


def report(rolled: RolledBack, attempt: Attempt, rollbacks: int) -> Report:
    """``rollbacks``: the rollbacks of this spec before this one."""
    spec, record = attempt.spec, rolled.record
    count = rollbacks + 1
    fields: dict[str, object] = {**attempt.release_fields(), "rollbackCount": count}
    if record is not None:
        fields.update(lastReleaseRevision=record.revision, releaseStatus=record.status)
    if rolled.helm is not None and rolled.helm.ok:
        return _rolled_back(rolled, attempt, fields, count)
    if rolled.helm is None:
        message = f"release {spec.release} has no deployed revision to roll back to"
        fields["lastFailedRevision"] = None  # nothing of the failed spec can be undone
        outcome = Outcome.requeue(0.0)
    else:
        failure = helm_failure(rolled.helm, spec.rollback.timeout)
        message = (
            f"rollback of release {spec.release} to revision {rolled.target} failed: {failure}"
        )
        made = record is not None and record.revision > rolled.previous
        # A failed rollback that left a revision is not tried again (the next reconcile
        # stops); one that never reached the release is retried with backoff.
        outcome = Outcome.requeue(0.0) if made else Outcome.retry()
    return Report(
        outcome=outcome,
        action="rollback",
        result="error",
        status=StatusUpdate(
            phase=PHASE_ROLLBACK_FAILED,
            conditions=(
                Condition(ROLLED_BACK, FALSE, PHASE_ROLLBACK_FAILED, message),
                deployed(spec.release, record.status if record is not None else None),
                Condition(RECONCILING, TRUE, PHASE_ROLLBACK_FAILED, message),
                NOT_STALLED,
            ),
            fields=fields,
        ),
        event=EventNote("RollbackFailed", message, "Rollback", warning=True),
        log=logged(False, message),
    )


def _rolled_back(
    rolled: RolledBack, attempt: Attempt, fields: dict[str, object], count: int
) -> Report:
    spec, record = attempt.spec, rolled.record
    now = f" (now revision {record.revision})" if record is not None else ""
    message = "; ".join(
        (
            f"rolled back release {spec.release} to revision {rolled.target}{now}",
            *rolled.unsupported,
        )
    )
    again = spec.rollback.may_retry(count)
    if again:
        reconciling = retrying(f"{message}; the upgrade is tried again (rollback.retry)")
    else:  # the next reconcile stops
        reconciling = Condition(RECONCILING, TRUE, PHASE_ROLLED_BACK, message)
    return Report(
        outcome=Outcome.retry() if again else Outcome.requeue(0.0),
        action="rollback",
        result="success",
        status=StatusUpdate(
            phase=PHASE_ROLLED_BACK,
            conditions=(
                Condition(ROLLED_BACK, TRUE, PHASE_ROLLED_BACK, message),
                deployed(spec.release, record.status if record is not None else None),
                reconciling,
                NOT_STALLED,
            ),
            fields=fields,
        ),
        event=EventNote("RolledBack", message, "Rollback", warning=bool(rolled.unsupported)),
        log=logged(True, message),
    )
