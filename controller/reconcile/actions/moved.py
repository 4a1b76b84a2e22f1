"""Moved: the spec names another release; once the old one is uninstalled, start afresh."""

from __future__ import annotations

from controller.keys import ReleaseKey
from controller.outcome import Outcome
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_STALLED, Report
from controller.status import RECONCILING, TRUE, Condition, StatusUpdate

RELEASE_FIELDS = ("revision", "lastReleaseRevision", "releaseStatus", "lastAppliedDigest")
"""Status fields describing the release a HelmRelease manages (cleared when it moves)."""


def report(old: ReleaseKey, attempt: Attempt) -> Report:
    """The old release is gone: forget what the status says of it, install the new one now."""
    spec = attempt.spec
    message = f"release moved from {old} to {spec.release}; installing"
    return Report(
        outcome=Outcome.requeue(0.0),
        action="uninstall",
        result="success",
        status=StatusUpdate(
            conditions=(
                attempt.fetched,
                Condition(RECONCILING, TRUE, "ReleaseMoved", message),
                NOT_STALLED,
            ),
            fields={
                **dict.fromkeys(RELEASE_FIELDS),
                "releaseName": spec.release_name,
                "targetNamespace": spec.target_namespace,
            },
        ),
    )
