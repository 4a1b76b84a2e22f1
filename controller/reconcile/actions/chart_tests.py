"""Test: ``helm test`` of the deployed revision, after a successful install or upgrade
with ``spec.test.enable`` (or once tests are enabled on a release whose revision never
ran them).

Passed: the release is Released. Failed with ``ignoreFailures``: Released all the same,
Tested=False. Failed otherwise: remembered as a failure of the spec, like a failed
upgrade, so that the next reconcile remediates it (uninstall after an install, rollback
when enabled) or stops. A failure to reach the API server is retried with backoff.
"""

from __future__ import annotations

from controller.helm import HelmResult
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext, helm_failure, transient
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, logged, retrying
from controller.releases import ObservedRelease
from controller.status import (
    FALSE,
    PHASE_SUCCEEDED,
    PHASE_TEST_FAILED,
    PHASE_TESTED,
    PHASE_TESTING,
    RECONCILING,
    RELEASED,
    TESTED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)


async def run(ctx: ActionContext, attempt: Attempt) -> HelmResult:
    return await ctx.runner.test(
        release=ctx.release, timeout=attempt.spec.test.timeout, as_user=ctx.as_user
    )


def progress(attempt: Attempt, reason: str) -> StatusUpdate:
    return StatusUpdate(
        phase=PHASE_TESTING,
        conditions=(
            Condition(TESTED, UNKNOWN, PHASE_TESTING, reason),
            Condition(RECONCILING, TRUE, PHASE_TESTING, reason),
            NOT_STALLED,
        ),
        fields=attempt.release_fields(),
    )


def report(result: HelmResult, attempt: Attempt, observed: ObservedRelease) -> Report:
    """``observed``: the revision tested."""
    spec = attempt.spec
    tested = f"release {spec.release} revision {observed.revision}"
    fields: dict[str, object] = {**attempt.release_fields()}
    if result.ok:
        message = attempt.noted(f"the tests of {tested} passed")
        fields["lastTestedRevision"] = observed.revision
        return _report(
            Outcome.resync(),
            PHASE_SUCCEEDED,
            (
                Condition(TESTED, TRUE, PHASE_TESTED, message),
                Condition(RELEASED, TRUE, PHASE_SUCCEEDED, message),
                NOT_RECONCILING,
            ),
            fields,
            EventNote("TestSucceeded", message, "Test"),
        )
    message = f"the tests of {tested} failed: {helm_failure(result, spec.test.timeout)}"
    failed = EventNote("TestFailed", message, "Test", warning=True)
    if transient(result):
        return _report(
            Outcome.retry(),
            PHASE_TESTING,
            (Condition(TESTED, UNKNOWN, PHASE_TESTING, message), retrying(message)),
            fields,
            failed,
        )
    if spec.test.ignore_failures:
        fields["lastTestedRevision"] = observed.revision
        ignored = attempt.noted(f"{message} (ignored: test.ignoreFailures)")
        return _report(
            Outcome.resync(),
            PHASE_SUCCEEDED,
            (
                Condition(TESTED, FALSE, PHASE_TEST_FAILED, message),
                Condition(RELEASED, TRUE, PHASE_SUCCEEDED, ignored),
                NOT_RECONCILING,
            ),
            fields,
            failed,
        )
    fields.update(lastFailedDigest=attempt.desired, lastFailedRevision=observed.revision)
    return _report(
        Outcome.requeue(0.0),  # what follows (uninstall, rollback or stop) is decided at once
        PHASE_TEST_FAILED,
        (
            Condition(TESTED, FALSE, PHASE_TEST_FAILED, message),
            Condition(RELEASED, FALSE, PHASE_TEST_FAILED, message),
            Condition(RECONCILING, TRUE, PHASE_TEST_FAILED, message),
        ),
        fields,
        failed,
    )


def _report(
    outcome: Outcome,
    phase: str,
    conditions: tuple[Condition, ...],
    fields: dict[str, object],
    event: EventNote,
) -> Report:
    return Report(
        outcome=outcome,
        action="test",
        result="error" if event.warning else "success",
        status=StatusUpdate(phase=phase, conditions=(*conditions, NOT_STALLED), fields=fields),
        event=event,
        log=logged(not event.warning, event.note),
    )
