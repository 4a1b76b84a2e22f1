"""Upgrade: the release is ours but not what the spec asks for (or its last attempt failed)."""

from __future__ import annotations

from controller.reconcile.action import ActionContext, ActionResult, apply_chart


async def run(ctx: ActionContext) -> ActionResult:
    return await apply_chart(ctx, install=False)
