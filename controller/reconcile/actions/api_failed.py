"""API failure: a request to the Kubernetes API failed mid-reconcile; retried with backoff.

The status write of this report may fail as well (the API is what failed): the
reconciler writes it on a best-effort basis, and the Event may still get through.
"""

from __future__ import annotations

import logging

from controller.kube.client import ApiError
from controller.outcome import Outcome
from controller.reconcile.report import Report
from controller.status import RECONCILING, TRUE, Condition, EventNote, StatusUpdate


def report(error: ApiError) -> Report:
    message = f"Kubernetes API request failed: {error}"
    return Report(
        outcome=Outcome.retry(),
        result="error",
        status=StatusUpdate(conditions=(Condition(RECONCILING, TRUE, "ApiError", message),)),
        event=EventNote("ReconcileError", message, "Reconcile", warning=True),
        log=(logging.WARNING, message),
    )
