"""Wait: a helm operation may still hold the release; look again later, touching nothing."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import Decision
from controller.reconcile.report import NOT_STALLED, Report
from controller.status import RECONCILING, TRUE, Condition, StatusUpdate


def report(decision: Decision, attempt: Attempt | None) -> Report:
    """``attempt`` is None while deleting: then nothing about a chart is known or said."""
    locked = Condition(RECONCILING, TRUE, "ReleaseLocked", decision.reason)
    known = (attempt.fetched,) if attempt is not None else ()
    return Report(
        outcome=Outcome.requeue(decision.after),
        result="requeue",
        status=StatusUpdate(
            conditions=(*known, locked, NOT_STALLED),
            fields=attempt.fields if attempt is not None else {},
        ),
        log=(logging.INFO, f"waiting {decision.after:.0f}s: {decision.reason}"),
    )
