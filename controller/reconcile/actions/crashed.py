"""A bug met while reconciling: said on the HelmRelease, not only in the log.

An exception that escapes a reconcile (neither an expected failure, which is a report,
nor an API failure) is reported Stalled with reason ``InternalError``, naming the
exception's type and where it was raised, never its message (it might quote object
contents); the log line carries the traceback, once, when the status first says it.
It is not retried in a loop: a change of the HelmRelease or a reconcile request tries
again, as for any Stalled release.
"""

from __future__ import annotations

import logging
import traceback

from controller.outcome import Outcome
from controller.reconcile.report import NOT_RECONCILING, Report, Tell
from controller.status import STALLED, TRUE, Condition, EventNote, StatusUpdate

REASON = "InternalError"


def report(error: Exception) -> Report:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    message = (
        f"internal error ({type(error).__name__}{where}) while reconciling; not tried again "
        "until the HelmRelease changes or a reconcile is requested"
    )
    trace = "".join(traceback.format_list(frames))
    return Report(
        outcome=Outcome.resync(),
        result="error",
        status=StatusUpdate(
            conditions=(Condition(STALLED, TRUE, REASON, message), NOT_RECONCILING)
        ),
        event=EventNote(REASON, message, "Reconcile", warning=True),
        log=(logging.ERROR, f"{message}\n{trace}"),
        tell=Tell.ON_CHANGE,
    )
