"""What every action module shares: its input, its result and the protocol they implement.

An action runs one helm (or release record) operation and reports how it went as a
value; it never raises for an expected failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.api import ReleaseSpec
from controller.charts import FetchedChart
from controller.helm import HelmResult, HelmRunner
from controller.keys import ReleaseKey
from controller.kube.client import KubeClient
from controller.releases import ObservedRelease
from controller.status import PHASE_DEPLOY_FAILED, PHASE_SUCCEEDED


@dataclass(frozen=True)
class ActionContext:
    client: KubeClient
    runner: HelmRunner
    release: ReleaseKey
    """The release acted on (for an uninstall of a moved release: the old one)."""
    timeout: float
    """helm's --timeout, in seconds."""
    observed: ObservedRelease | None = None
    """The release record as just read (unlock acts on exactly this revision)."""
    spec: ReleaseSpec | None = None
    chart: FetchedChart | None = None
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels written on the release record (owner and applied digest)."""


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    reason: str
    """CamelCase, used as condition and Event reason (``UpgradeSucceeded``)."""
    message: str
    """One line for users; never values."""
    phase: str
    revision: int | None = None
    """The release revision the action left behind, when known."""
    release_status: str | None = None
    """helm's status of that revision (``deployed``, ``failed``, ...)."""


class ActionRun(Protocol):
    """What each action module's ``run`` is."""

    async def __call__(self, ctx: ActionContext, /) -> ActionResult: ...


async def apply_chart(ctx: ActionContext, *, install: bool) -> ActionResult:
    """``helm upgrade [--install]`` of the context's chart and values; shared by both actions."""
    spec, chart = ctx.spec, ctx.chart
    if spec is None or chart is None:
        raise ValueError("installing or upgrading needs a spec and a fetched chart")
    result = await ctx.runner.upgrade(
        release=ctx.release,
        chart_path=chart.path,
        values=ctx.values,
        timeout=spec.timeout,
        wait=spec.wait,
        history_max=spec.max_history,
        install=install,
        reset_values=spec.reset_values,
        force=spec.force_upgrade,
        skip_crds=spec.skip_crds,
        labels=ctx.labels,
    )
    reason, done = ("Install", "installed") if install else ("Upgrade", "upgraded")
    what = f"chart {chart.name} {chart.version} as release {ctx.release}"
    if result.ok:
        return ActionResult(
            ok=True,
            reason=f"{reason}Succeeded",
            message=f"{done} {what}, revision {result.revision}",
            phase=PHASE_SUCCEEDED,
            revision=result.revision,
            release_status=result.status or "deployed",
        )
    return ActionResult(
        ok=False,
        reason=f"{reason}Failed",
        message=f"{reason.lower()} of {what} failed: {helm_failure(result, ctx.timeout)}",
        phase=PHASE_DEPLOY_FAILED,
        revision=result.revision,
        release_status=result.status,
    )


def helm_failure(result: HelmResult, timeout: float) -> str:
    """Why a helm process failed, in one line (its error is already free of values)."""
    if result.timed_out:
        return f"helm did not finish within its {timeout:g}s timeout and was stopped"
    return result.error or f"helm exited with code {result.exit_code}"
