"""Unlock: a release left pending-* by a helm that died is marked failed, so it can be upgraded.

Only runs when no helm process of ours works on the release and it has been pending
for longer than its timeout. The record is rewritten only if it is still exactly the
revision and status that was observed.
"""

from __future__ import annotations

from controller.kube.client import ApiError
from controller.reconcile.action import ActionContext, ActionResult
from controller.releases import mark_failed
from controller.status import PHASE_FAILED


async def run(ctx: ActionContext) -> ActionResult:
    observed = ctx.observed
    if observed is None:
        raise ValueError("unlocking needs the observed release record")
    stale = f"release {ctx.release} revision {observed.revision} ({observed.status})"
    try:
        await mark_failed(
            ctx.client, observed, f"Release unlocked from stale '{observed.status}' state"
        )
    except (ApiError, ValueError) as error:
        return ActionResult(
            ok=False,
            reason="UnlockFailed",
            message=f"could not unlock {stale}: {error}",
            phase=PHASE_FAILED,
            revision=observed.revision,
            release_status=observed.status,
        )
    return ActionResult(
        ok=True,
        reason="Unlocked",
        message=f"unlocked {stale}: marked failed so it can be upgraded",
        phase=PHASE_FAILED,
        revision=observed.revision,
        release_status="failed",
    )
