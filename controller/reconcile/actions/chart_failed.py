"""Chart failure: the chart (or its repository's credentials) could not be had."""

from __future__ import annotations

import logging

from controller.charts import ChartError
from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report
from controller.status import (
    CHART_FETCHED,
    FALSE,
    PHASE_CHART_FETCH_FAILED,
    Condition,
    EventNote,
    StatusUpdate,
)


def report(error: ChartError) -> Report:
    """A retryable failure comes back with backoff; another waits for the resync."""
    return Report(
        outcome=Outcome.retry() if error.retryable else Outcome.resync(),
        result="error",
        status=StatusUpdate(
            phase=PHASE_CHART_FETCH_FAILED,
            conditions=(
                Condition(CHART_FETCHED, FALSE, error.reason, error.message),
                NOT_RECONCILING,
                NOT_STALLED,
            ),
        ),
        event=EventNote("ChartFetchFailed", f"{error.reason}: {error.message}", "Fetch", True),
        log=(logging.WARNING, f"chart fetch failed: {error.reason}: {error.message}"),
    )
