"""Install or upgrade: ``helm upgrade [--install]`` of the chart and values, then its record.

helm's own output is not read (it holds the whole chart, manifest and values); the
release record it left behind says which revision it made and in what status, after a
success as after a failure (a failed upgrade still records a failed revision). The
watch of release records usually delivers that record before helm's exit is noticed:
then the index answers; otherwise the record is read from the API.
"""

from __future__ import annotations

import math
import time

from controller.reconcile.action import ActionContext, ActionResult, helm_failure
from controller.releases import ObservedRelease, read_release
from controller.status import PHASE_DEPLOY_FAILED, PHASE_SUCCEEDED


async def run(ctx: ActionContext, *, install: bool) -> ActionResult:
    """Apply the context's chart and values; raises ApiError when the record cannot be read."""
    spec, chart = ctx.spec, ctx.chart
    if spec is None or chart is None:
        raise ValueError("installing or upgrading needs a spec and a fetched chart")
    started = math.floor(time.time())  # helm's record times are whole seconds
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
    record = _written_by_helm(ctx, started) or await read_release(ctx.client, ctx.release)
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


def _written_by_helm(ctx: ActionContext, started: float) -> ObservedRelease | None:
    """The record the helm just run left, if the index already has it in its final state.

    Under the release's lock only our helm makes revisions: the revision after the one
    observed before helm started, changed since then, carrying our labels and no longer
    pending, is its own.
    """
    latest = ctx.index.latest(ctx.release) if ctx.index is not None else None
    before = ctx.observed.revision if ctx.observed is not None else 0
    if latest is None or latest.pending or latest.revision != before + 1:
        return None
    if latest.modified_at is None or latest.modified_at < started:
        return None
    if any(latest.labels.get(name) != value for name, value in ctx.labels.items()):
        return None
    return latest
