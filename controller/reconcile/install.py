"""Install: the release does not exist yet."""

from __future__ import annotations

from controller.reconcile.action import ActionContext, ActionResult, apply_chart


async def run(ctx: ActionContext) -> ActionResult:
    return await apply_chart(ctx, install=True)
