"""Suspended (``spec.suspend``, helm-controller's): the release is left as it is, no helm
runs; the status says so in the Reconciling condition (its reason ``Suspended``), which
the first report after a resume replaces. Told once, when the status first says it."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.report import Report, Tell
from controller.status import FALSE, RECONCILING, Condition, EventNote, StatusUpdate

REASON = "Suspended"
MESSAGE = "reconciliation is suspended (spec.suspend): the release is left as it is"


def report() -> Report:
    return Report(
        outcome=Outcome.resync(),
        result="noop",
        status=StatusUpdate(conditions=(Condition(RECONCILING, FALSE, REASON, MESSAGE),)),
        event=EventNote(REASON, MESSAGE, "Reconcile"),
        log=(logging.INFO, MESSAGE),
        tell=Tell.ON_CHANGE,
    )
