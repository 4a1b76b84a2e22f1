"""Stop: this spec failed and was remediated as far as its policy goes; nothing is tried
again until the spec or its values change, or a reconcile is requested. No helm runs:
the failure is not retried in a loop (helm-operator's "upgrade failures" contract).
Stalled (so Ready is False) with the reason helm-controller gives for the same state.
"""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import STOPPED, Decision
from controller.reconcile.report import NOT_RECONCILING, Report, Tell
from controller.status import FALSE, STALLED, TRUE, Condition, EventNote, StatusUpdate

REASON = "RetriesExceeded"


def report(decision: Decision, attempt: Attempt, released: Condition | None) -> Report:
    """``released``: the Released condition as the status holds it; when it tells the
    failure (helm's error), the stop repeats it, so that Ready says why."""
    if released is not None and released.status == FALSE and released.message:
        message = f"{released.message}; {STOPPED}"
    else:
        message = decision.reason
    return Report(
        outcome=Outcome.resync(),
        result="noop",
        status=StatusUpdate(
            conditions=(
                attempt.fetched,
                Condition(STALLED, TRUE, REASON, message),
                NOT_RECONCILING,
            ),
            fields=attempt.release_fields(),
        ),
        event=EventNote(REASON, message, "Reconcile", warning=True),
        log=(logging.WARNING, message),
        tell=Tell.ON_CHANGE,
    )
