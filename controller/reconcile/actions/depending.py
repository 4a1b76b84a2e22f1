"""Depending (``spec.dependsOn``): a dependency is not Ready (or missing), so the release
waits, touching nothing, until the dependency's change wakes it; or the dependencies form
a cycle, which only a spec change can break (Stalled, the cycle named)."""

from __future__ import annotations

import logging

from controller.outcome import Outcome
from controller.reconcile.dependencies import Cycle, Unready
from controller.reconcile.report import NOT_STALLED, Report, Tell, stalled
from controller.status import RECONCILING, TRUE, Condition, EventNote, StatusUpdate

WAITING = "DependencyNotReady"


def report(found: Unready | Cycle) -> Report:
    if isinstance(found, Cycle):
        message = f"spec.dependsOn forms a cycle: {found}"
        return stalled("DependencyCycle", message, event_action="Reconcile")
    message = f"waiting for dependencies: {'; '.join(found.waiting)}"
    return Report(
        outcome=Outcome.resync(),  # a dependency becoming Ready wakes it before
        result="requeue",
        status=StatusUpdate(
            conditions=(Condition(RECONCILING, TRUE, WAITING, message), NOT_STALLED)
        ),
        event=EventNote(WAITING, message, "Reconcile"),
        log=(logging.INFO, message),
        tell=Tell.ON_CHANGE,
    )
