"""Values failure: a source of ``spec.valuesFrom`` could not be read; the release is not
touched. A source that may appear (or come back) is retried with backoff; one that only a
spec change can fix stalls the HelmRelease. Messages name the source, never its content."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, retrying
from controller.sources import SourceError
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

EVENT_REASON = "ValuesFromFailed"


def report(error: SourceError) -> Report:
    message = error.message  # names the source (never its content nor credentials)
    if error.retryable:
        outcome, progress = Outcome.retry(), (retrying(message), NOT_STALLED)
    else:
        stalled = Condition(STALLED, TRUE, error.reason, message)
        outcome, progress = Outcome.resync(), (NOT_RECONCILING, stalled)
    return Report(
        outcome=outcome,
        result="error",
        status=StatusUpdate(
            phase=PHASE_FAILED,  # as helm-operator said a values failure
            conditions=(Condition(RELEASED, FALSE, PHASE_FAILED, message), *progress),
        ),
        event=EventNote(EVENT_REASON, message, "ComposeValues", warning=True),
        log=(logging.WARNING, message),
    )
