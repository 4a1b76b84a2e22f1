"""Invalid spec: nothing can be done until the user changes it; told once per change."""

from __future__ import annotations

import logging

from controller.api import SpecError
from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, Report, Tell
from controller.status import PHASE_FAILED, STALLED, TRUE, Condition, EventNote, StatusUpdate


def report(error: SpecError) -> Report:
    message = f"invalid spec: {error}"
    return Report(
        outcome=Outcome.resync(),
        result="error",
        status=StatusUpdate(
            phase=PHASE_FAILED,
            conditions=(Condition(STALLED, TRUE, "InvalidSpec", message), NOT_RECONCILING),
        ),
        event=EventNote("InvalidSpec", message, "Validate", warning=True),
        log=(logging.WARNING, message),
        tell=Tell.ON_CHANGE,
    )
