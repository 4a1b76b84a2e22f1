"""Refuse: the release exists but is not ours; touch nothing, tell the user once."""

from __future__ import annotations

from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import Decision
from controller.reconcile.report import Report, stalled


def report(decision: Decision, attempt: Attempt) -> Report:
    message = f"{decision.reason}; not touching it"
    return stalled(
        "ReleaseRefused",
        message,
        event_action="Refuse",
        also=(attempt.fetched,),
        fields=attempt.fields,
        log_line=f"refused: {decision.reason}",
    )
