"""In sync: the release is deployed and exactly what was applied; only the status may lag."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, deployed
from controller.releases import ObservedRelease
from controller.status import DRIFTED, PHASE_SUCCEEDED, RELEASED, TRUE, Condition, StatusUpdate


def report(attempt: Attempt, observed: ObservedRelease, *, released_shown: bool) -> Report:
    """``released_shown``: the status already says Released=True (it is left as it is,
    keeping the reason of the action that released it)."""
    release = attempt.spec.release
    conditions = [attempt.fetched, deployed(release, observed.status), NOT_RECONCILING]
    conditions += [NOT_STALLED]
    if not released_shown:  # e.g. the last write of it was lost
        message = attempt.noted(f"release {release} revision {observed.revision} is up to date")
        conditions.append(Condition(RELEASED, TRUE, PHASE_SUCCEEDED, message))
    return Report(
        outcome=Outcome.resync(),
        status=StatusUpdate(
            phase=PHASE_SUCCEEDED,
            conditions=tuple(conditions),
            fields={
                **attempt.release_fields(),
                "revision": attempt.chart.revision,
                "lastReleaseRevision": observed.revision,
                "releaseStatus": observed.status,
                "lastAppliedDigest": attempt.desired,
            },
            dropped=(DRIFTED,),  # drift detection is off (drift_check reports it when on)
        ),
        log=(logging.DEBUG, "in sync"),
    )
