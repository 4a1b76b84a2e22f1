"""Chart failure: the chart (or its repository's credentials) could not be had; or not
yet: its repository is slow, and the fetch goes on while the worker is free."""

from __future__ import annotations

import logging

from controller.charts import ChartError
from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, NOT_STALLED, Report, Tell, retrying
from controller.status import (
    CHART_FETCHED,
    FALSE,
    PHASE_CHART_FETCH_FAILED,
    RECONCILING,
    RELEASED,
    STALLED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)

FETCH_RECHECK = 15.0
"""Seconds before a HelmRelease whose chart is still being fetched looks again (the fetch
goes on meanwhile; the next look finds it done, or waits a little for it again)."""


def report(error: ChartError) -> Report:
    """A retryable failure comes back with backoff (Reconciling); another one needs the
    user (Stalled) and only waits for the resync. ChartFetched and Released are False, with
    the phase as their reason, as helm-operator said it."""
    if error.pending:
        return _waiting(error)
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


def _waiting(error: ChartError) -> Report:
    """A fetch slower than a reconcile waits for: in progress (Reconciling), the chart not
    known yet; told once, when the status first says it."""
    return Report(
        outcome=Outcome.requeue(FETCH_RECHECK),
        result="requeue",
        status=StatusUpdate(
            conditions=(
                Condition(CHART_FETCHED, UNKNOWN, "Fetching", error.message),
                Condition(RECONCILING, TRUE, "FetchingChart", error.message),
            )
        ),
        event=EventNote("ChartFetchSlow", error.message, "Fetch", warning=True),
        log=(logging.INFO, error.message),
        tell=Tell.ON_CHANGE,
    )
