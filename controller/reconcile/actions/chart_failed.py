"""Chart failure: the chart (or its repository's credentials) could not be had."""

from __future__ import annotations

import logging

from controller.charts import ChartError
from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, retrying
from controller.status import (
    CHART_FETCHED,
    FALSE,
    PHASE_CHART_FETCH_FAILED,
    RELEASED,
    STALLED,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
)


def report(error: ChartError) -> Report:
    """A retryable failure comes back with backoff (Reconciling); another one needs the
    user (Stalled) and only waits for the resync. ChartFetched and Released are False, with
    the phase as their reason, as helm-operator said it."""
    message = f"{error.reason}: {error.message}"
    if error.retryable:
        outcome, progress = Outcome.retry(), (retrying(message), NOT_STALLED)
    else:
        stalled = Condition(STALLED, TRUE, PHASE_CHART_FETCH_FAILED, message)
        outcome, progress = Outcome.resync(), (NOT_RECONCILING, stalled)
    return Report(
        outcome=outcome,
        result="error",
        status=StatusUpdate(
            phase=PHASE_CHART_FETCH_FAILED,
            conditions=(
                Condition(CHART_FETCHED, FALSE, PHASE_CHART_FETCH_FAILED, message),
                Condition(RELEASED, FALSE, PHASE_CHART_FETCH_FAILED, message),
                *progress,
            ),
        ),
        event=EventNote("ChartFetchFailed", message, "Fetch", True),
        log=(logging.WARNING, f"chart fetch failed: {message}"),
    )
