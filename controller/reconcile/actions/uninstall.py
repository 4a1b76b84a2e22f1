"""Uninstall: the HelmRelease is deleted, or now names another release than the one it made.

Ownership was checked on a fresh read before this runs; a release that is already
gone counts as uninstalled (helm runs with ``--ignore-not-found``).
"""

from __future__ import annotations

from controller.helm import HelmResult
from controller.keys import ReleaseKey
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext, helm_failure
from controller.reconcile.report import Report, logged, retrying
from controller.status import FALSE, PHASE_FAILED, RELEASED, Condition, EventNote, StatusUpdate


async def run(ctx: ActionContext) -> HelmResult:
    return await ctx.runner.uninstall(release=ctx.release, timeout=ctx.timeout, as_user=ctx.as_user)


def report(result: HelmResult, release: ReleaseKey, timeout: float) -> Report:
    """An uninstall that worked is news only (what follows writes the status); one that
    failed leaves the HelmRelease failed and is retried."""
    if result.ok:
        message = f"uninstalled release {release}"
        return Report(
            outcome=Outcome.resync(),
            action="uninstall",
            result="success",
            event=EventNote("Uninstalled", message, "Uninstall"),
            log=logged(True, message),
        )
    message = f"uninstall of release {release} failed: {helm_failure(result, timeout)}"
    return Report(
        outcome=Outcome.retry(),
        action="uninstall",
        result="error",
        status=StatusUpdate(
            phase=PHASE_FAILED,
            conditions=(Condition(RELEASED, FALSE, "UninstallFailed", message), retrying(message)),
        ),
        event=EventNote("UninstallFailed", message, "Uninstall", warning=True),
        log=logged(False, message),
    )
