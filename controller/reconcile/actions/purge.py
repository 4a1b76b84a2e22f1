"""Purge: the install of this spec (or its tests) failed, and the release it left is
uninstalled, as helm-operator did, so that the next install (of a changed spec, or on
request) does not fail on a release name still in use. What follows is a stop: the same
spec is not installed again by itself.
"""

from __future__ import annotations

from controller.helm import HelmResult
from controller.outcome import Outcome
from controller.reconcile.actions.context import helm_failure
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_STALLED, Report, logged, retrying
from controller.status import (
    DEPLOYED,
    FALSE,
    PHASE_DEPLOY_FAILED,
    RECONCILING,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
)


def report(result: HelmResult, attempt: Attempt) -> Report:
    release = attempt.spec.release
    if not result.ok:
        message = (
            f"uninstall of release {release} after its failed install failed: "
            f"{helm_failure(result, attempt.spec.options.timeout)}"
        )
        return Report(
            outcome=Outcome.retry(),
            action="uninstall",
            result="error",
            status=StatusUpdate(conditions=(retrying(message), NOT_STALLED)),
            event=EventNote("UninstallFailed", message, "Uninstall", warning=True),
            log=logged(False, message),
        )
    message = f"uninstalled release {release} after its failed install"
    gone = {"lastReleaseRevision": None, "releaseStatus": None, "lastFailedRevision": None}
    return Report(
        outcome=Outcome.requeue(0.0),  # the next reconcile stops
        action="uninstall",
        result="success",
        status=StatusUpdate(
            conditions=(
                Condition(DEPLOYED, FALSE, PHASE_DEPLOY_FAILED, message),
                Condition(RECONCILING, TRUE, PHASE_DEPLOY_FAILED, message),
                NOT_STALLED,
            ),
            fields={**attempt.release_fields(), **gone},
        ),
        event=EventNote("Uninstalled", message, "Uninstall"),
        log=logged(True, message),
    )
