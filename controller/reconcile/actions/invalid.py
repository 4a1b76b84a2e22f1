"""Invalid spec, or a feature not built yet: nothing can be done until the user changes
the spec; told once per change."""

from __future__ import annotations

from controller.api import INVALID, SpecError
from controller.reconcile.report import Report, stalled


def report(error: SpecError) -> Report:
    what = "invalid spec" if error.reason == INVALID else "not supported"
    return stalled(error.reason, f"{what}: {error}", event_action="Validate")
