"""Refuse: the release exists but is not ours; touch nothing, tell the user once."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import Decision
from controller.reconcile.report import NOT_RECONCILING, Report, Tell
from controller.status import (
    FALSE,
    PHASE_FAILED,
    RELEASED,
    STALLED,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
)


def report(decision: Decision, attempt: Attempt) -> Report:
    message = f"{decision.reason}; not touching it"
    return Report(
        outcome=Outcome.resync(),
        result="error",
        status=StatusUpdate(
            phase=PHASE_FAILED,
            conditions=(
                attempt.fetched,
                Condition(RELEASED, FALSE, "ReleaseRefused", message),
                Condition(STALLED, TRUE, "ReleaseRefused", message),
                NOT_RECONCILING,
            ),
            fields=attempt.fields,
        ),
        event=EventNote("ReleaseRefused", message, "Refuse", warning=True),
        log=(logging.WARNING, f"refused: {decision.reason}"),
        tell=Tell.ON_CHANGE,  # once per change, not on every resync
    )
