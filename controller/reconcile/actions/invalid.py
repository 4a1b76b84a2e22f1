"""Invalid spec: nothing can be done until the user changes it; told once per change."""

from __future__ import annotations

from controller.api import SpecError
from controller.reconcile.report import Report, stalled


def report(error: SpecError) -> Report:
    return stalled("InvalidSpec", f"invalid spec: {error}", event_action="Validate")
