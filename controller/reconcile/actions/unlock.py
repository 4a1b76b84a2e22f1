"""Unlock: a release left pending-* by a helm that died is marked failed, so it can be upgraded.

Only runs when no helm process of ours works on the release and it has been pending
for longer than its timeout. The record is rewritten only if it is still exactly the
revision and status that was observed.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.kube.client import ApiError
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import NOT_STALLED, Report, logged, retrying
from controller.releases import ObservedRelease, mark_failed
from controller.status import FALSE, RECONCILING, RELEASED, TRUE, Condition, EventNote, StatusUpdate


@dataclass(frozen=True)
class Unlocked:
    stale: ObservedRelease
    """The pending record that was (or could not be) marked failed."""
    error: str | None = None
    """Why it could not be, when it could not."""


async def run(ctx: ActionContext) -> Unlocked:
    stale = ctx.observed
    if stale is None:
        raise ValueError("unlocking needs the observed release record")
    try:
        await mark_failed(ctx.client, stale, f"Release unlocked from stale '{stale.status}' state")
    except (ApiError, ValueError) as error:
        return Unlocked(stale, str(error))
    return Unlocked(stale)


def report(unlocked: Unlocked, attempt: Attempt) -> Report:
    """Unlocked: upgraded right away (the next look reads the release fresh); not: retried."""
    stale = unlocked.stale
    what = f"release {stale.key} revision {stale.revision} ({stale.status})"
    if unlocked.error is None:
        reason, message = "Unlocked", f"unlocked {what}: marked failed so it can be upgraded"
        conditions: tuple[Condition, ...] = (Condition(RECONCILING, TRUE, reason, message),)
    else:
        reason, message = "UnlockFailed", f"could not unlock {what}: {unlocked.error}"
        conditions = (Condition(RELEASED, FALSE, reason, message), retrying(message))
    ok = unlocked.error is None
    return Report(
        outcome=Outcome.requeue(0.0) if ok else Outcome.retry(),
        action="unlock",
        result="success" if ok else "error",
        status=StatusUpdate(
            conditions=(attempt.fetched, *conditions, NOT_STALLED), fields=attempt.fields
        ),
        event=EventNote(reason, message, "Unlock", warning=not ok),
        log=logged(ok, message),
    )
