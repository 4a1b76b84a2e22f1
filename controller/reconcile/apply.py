"""Install or upgrade: ``helm upgrade [--install]`` of the chart and values, then a fresh read.

helm's own output is not read (it holds the whole chart, manifest and values); the
release record it left behind says which revision it made and in what status, after a
success as after a failure (a failed upgrade still records a failed revision).
"""

from __future__ import annotations

from controller.reconcile.action import ActionContext, ActionResult, helm_failure
from controller.releases import read_release
from controller.status import PHASE_DEPLOY_FAILED, PHASE_SUCCEEDED


async def run(ctx: ActionContext, *, install: bool) -> ActionResult:
    """Apply the context's chart and values; raises ApiError when the record cannot be read."""
    spec, chart = ctx.spec, ctx.chart
    if spec is None or chart is None:
        raise ValueError("installing or upgrading needs a spec and a fetched chart")
    result = await ctx.runner.upgrade(
        release=ctx.release,
        chart_path=chart.path,
        values=ctx.values,
        timeout=ctx.timeout,
        wait=spec.wait,
        history_max=spec.max_history,
        install=install,
        reset_values=spec.reset_values,
        force=spec.force_upgrade,
        skip_crds=spec.skip_crds,
        labels=ctx.labels,
    )
    record = await read_release(ctx.client, ctx.release)
    revision = record.revision if record is not None else None
    status = record.status if record is not None else None
    reason, done = ("Install", "installed") if install else ("Upgrade", "upgraded")
    what = f"chart {chart.name} {chart.version} as release {ctx.release}"
    if result.ok:
        return ActionResult(
            ok=True,
            reason=f"{reason}Succeeded",
            message=f"{done} {what}, revision {revision}",
            phase=PHASE_SUCCEEDED,
            revision=revision,
            release_status=status,
        )
    return ActionResult(
        ok=False,
        reason=f"{reason}Failed",
        message=f"{reason.lower()} of {what} failed: {helm_failure(result, ctx.timeout)}",
        phase=PHASE_DEPLOY_FAILED,
        revision=revision,
        release_status=status,
    )
