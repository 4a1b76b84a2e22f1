"""Uninstall: the HelmRelease is deleted, or now names another release than the one it made.

Ownership was checked on a fresh read before this runs; a release that is already
gone counts as uninstalled (helm runs with ``--ignore-not-found``).
"""

from __future__ import annotations

from controller.reconcile.action import ActionContext, ActionResult, helm_failure
from controller.status import PHASE_FAILED, PHASE_SUCCEEDED


async def run(ctx: ActionContext) -> ActionResult:
    result = await ctx.runner.uninstall(release=ctx.release, timeout=ctx.timeout)
    if result.ok:
        return ActionResult(
            ok=True,
            reason="Uninstalled",
            message=f"uninstalled release {ctx.release}",
            phase=PHASE_SUCCEEDED,
        )
    return ActionResult(
        ok=False,
        reason="UninstallFailed",
        message=f"uninstall of release {ctx.release} failed: {helm_failure(result, ctx.timeout)}",
        phase=PHASE_FAILED,
    )
