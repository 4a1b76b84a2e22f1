"""How a reconcile ends, as data: the Report every action's pure ``report`` function returns.

A report says what the status becomes, what users are told (an Event and a log line)
and what the work queue does next; the reconciler only carries it out. Keeping it
data makes every outcome table-testable without helm or an API server.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.keys import ReleaseKey
from controller.outcome import Outcome
from controller.status import (
    DEPLOYED,
    FALSE,
    PHASE_DEPLOY_FAILED,
    PHASE_DEPLOYED,
    PHASE_FAILED,
    RECONCILING,
    RELEASED,
    STALLED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
)

NOT_RECONCILING = Condition(RECONCILING, FALSE, "Idle", "no operation in progress")
NOT_STALLED = Condition(STALLED, FALSE, "Progressing", "the spec can be acted on")
RETRYING = "ProgressingWithRetry"


def retrying(message: str) -> Condition:
    """Reconciling while a failed attempt waits for its retry (kstatus: in progress)."""
    return Condition(RECONCILING, TRUE, RETRYING, f"will retry: {message}")


class Tell(enum.Enum):
    """When the Event and log line of a report are sent."""

    ALWAYS = "always"  # news: something happened in this reconcile
    ON_CHANGE = "on-change"  # a standing problem: told once, when the status first says it


@dataclass(frozen=True)
class Report:
    """What one reconcile tells the world, and what comes next."""

    outcome: Outcome
    action: str = "none"
    """Metric label: install, upgrade, uninstall, unlock, none."""
    result: str = "noop"
    """Metric label: success, error, noop, requeue."""
    status: StatusUpdate | None = None
    event: EventNote | None = None
    log: tuple[int, str] | None = None
    """Level and message of the log line (never values)."""
    tell: Tell = Tell.ALWAYS


def stalled(
    reason: str,
    message: str,
    *,
    event_action: str,
    also: tuple[Condition, ...] = (),
    fields: Mapping[str, Any] | None = None,
    log_line: str | None = None,
) -> Report:
    """A standing problem only the user can fix: Stalled (so Ready is False), phase Failed
    and Released False (as helm-operator said it), no retry before the resync; told once,
    when the status first says it. ``also``: more conditions to set (they win over the
    Released one); ``log_line``: the log's wording when not ``message``."""
    failed = Condition(RELEASED, FALSE, PHASE_FAILED, message)
    return Report(
        outcome=Outcome.resync(),
        result="error",
        status=StatusUpdate(
            phase=PHASE_FAILED,
            conditions=(failed, *also, Condition(STALLED, TRUE, reason, message), NOT_RECONCILING),
            fields=fields or {},
        ),
        event=EventNote(reason, message, event_action, warning=True),
        log=(logging.WARNING, log_line or message),
        tell=Tell.ON_CHANGE,
    )


def logged(ok: bool, message: str) -> tuple[int, str]:
    """An action's log line: INFO when it went well, WARNING when not."""
    return (logging.INFO if ok else logging.WARNING, message)


def deployed(release: ReleaseKey, status: str | None) -> Condition:
    """The Deployed condition for helm's status of the release's latest revision."""
    if status == "deployed":
        return Condition(DEPLOYED, TRUE, PHASE_DEPLOYED, f"release {release} is deployed")
    if status is None:
        return Condition(DEPLOYED, UNKNOWN, "Unknown", f"status of release {release} is unknown")
    if status == "failed":
        reason = PHASE_DEPLOY_FAILED
    else:
        reason = "".join(part.capitalize() for part in status.split("-"))
    return Condition(DEPLOYED, FALSE, reason, f"release {release} is {status}")
