"""One reconcile of one HelmRelease: orchestration only.

parse -> (deleting: uninstall, drop the finalizer) -> finalizer -> fetch the chart ->
lock the release -> observe -> decide (pure) -> act -> carry out the action's report.
What each outcome says (status, Event, log line, what comes next) is the business of
the action's own ``report`` function in ``controller.reconcile.actions``; this module
only writes, posts and logs what a report says. Expected failures are reports; only
bugs raise (an ApiError becomes the API failure report).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from controller import metrics
from controller.api import ReleaseOptions, ReleaseSpec, SpecError, parse
from controller.charts import ChartError, ChartFetcher, fetch_chart
from controller.helm import HelmRunner
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache, OwnWrites
from controller.kube.client import ApiError, KubeClient
from controller.kube.discovery import Discovery
from controller.outcome import Outcome
from controller.reconcile import dependencies, finalizer
from controller.reconcile.actions import (
    adopt,
    api_failed,
    apply,
    chart_failed,
    chart_tests,
    crashed,
    depending,
    drift_check,
    in_sync,
    invalid,
    moved,
    purge,
    refuse,
    rollback,
    stop,
    suspended,
    uninstall,
    unlock,
    values_failed,
    wait,
)
from controller.reconcile.actions.context import ActionContext, impersonated
from controller.reconcile.antecedent import Antecedents
from controller.reconcile.attempt import Attempt
from controller.reconcile.background import in_background
from controller.reconcile.decide import Action, Decision
from controller.reconcile.locks import ReleaseLocks
from controller.reconcile.observe import Observer
from controller.reconcile.report import Report
from controller.reconcile.reporter import Reporter
from controller.reconcile.state import Recorded
from controller.releases import ObservedRelease, ReleaseIndex
from controller.sources import SourceError, ValuesResolver
from controller.status import (
    FALSE,
    RELEASED,
    TRUE,
    UNKNOWN,
    condition_of,
    condition_status,
    ready_of,
)

READY_GAUGE = {TRUE: 1, UNKNOWN: 0, FALSE: -1}


class Reconciler:
    """Reconciles one HelmRelease per call; safe to call concurrently for different keys."""

    def __init__(
        self,
        cache: Cache,
        client: KubeClient,
        charts: ChartFetcher,
        runner: HelmRunner,
        releases: ReleaseIndex,
        locks: ReleaseLocks,
        sources: ValuesResolver,
        *,
        log_release_diffs: bool = False,
        default_service_account: str | None = None,
        drift: drift_check.DriftTools | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writes = OwnWrites(cache)
        self.sources = sources
        self.log_release_diffs = log_release_diffs
        self.client = client
        self.charts = charts
        self.runner = runner
        self.releases = releases
        self.locks = locks
        self.default_service_account = default_service_account
        self.drift = drift or drift_check.DriftTools(Discovery(client))
        discovery = self.drift.discovery
        antecedents = Antecedents(client, discovery)
        self.observer = Observer(client, releases, runner, antecedents, clock)

    async def __call__(self, key: ObjectKey) -> Outcome:
        obj = self.writes.get(key)
        if obj is None:
            self._forget(key)
            return Outcome.forget()
        started = time.monotonic()
        run = _Run(self, key, obj)
        try:
            report = await run.reconcile()
        finally:
            self.writes.remember(key, run.out.superseded, run.out.obj)
        metrics.RECONCILE_TOTAL.labels(result=report.result, action=report.action).inc()
        elapsed = time.monotonic() - started
        metrics.RECONCILE_DURATION.labels(action=report.action).observe(elapsed)
        run.out.finished(report, elapsed)
        outcome = report.outcome
        if outcome == Outcome.resync() and run.interval is not None:
            outcome = Outcome.resync(run.interval)
        if report.outcome == Outcome.forget():
            self._forget(key)
        else:
            ready = READY_GAUGE[ready_of(run.out.obj.get("status"))]
            metrics.RELEASES.reconciled(key.namespace, key.name, ready, time.time())
        return outcome

    def _forget(self, key: ObjectKey) -> None:
        self.writes.forget(key)
        metrics.RELEASES.forget_helmrelease(key.namespace, key.name)


class _Run:
    """One reconcile of one HelmRelease; ``out`` carries out its reports."""

    def __init__(self, owner: Reconciler, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        self.r = owner
        self.key = key
        self.out = Reporter(owner.client, key, obj)
        self.interval: float | None = None
        """The HelmRelease's own resync interval (``spec.interval``), once parsed."""
        self.as_user: str | None = None  # who helm acts as: ``impersonated``, once parsed

    async def reconcile(self) -> Report:
        try:
            return await self._reconcile()
        except ApiError as error:
            return await self.out.carry_out(api_failed.report(error), best_effort=True)
        except Exception as error:  # a bug: said on the HelmRelease (and logged once)
            return await self.out.carry_out(crashed.report(error), best_effort=True)

    async def _reconcile(self) -> Report:
        obj = self.out.obj
        spec = parse(obj)
        self.as_user = impersonated(self.key.namespace, spec, self.r.default_service_account)
        recorded = Recorded.from_status(obj.get("status"))
        if obj["metadata"].get("deletionTimestamp"):
            return await self._delete(spec, recorded)
        if isinstance(spec, SpecError):
            return await self.out.carry_out(invalid.report(spec))
        self.interval = spec.interval
        if spec.suspend:
            return await self.out.carry_out(suspended.report())
        waiting = dependencies.check(self.key, spec.depends_on, self.r.writes.get)
        if waiting is not None:
            return await self.out.carry_out(depending.report(waiting))
        self.out.about(spec.release)
        # The finalizer PATCH runs while the chart is fetched and the release looked at
        # (both only read); it is in place before any write of ours and any helm call.
        async with in_background(finalizer.ensured(self.r.client, obj)) as finalized:
            chart = await fetch_chart(self.r.charts, self.r.client, spec)
            if isinstance(chart, ChartError):
                self.out.advance(await finalized)
                return await self.out.carry_out(chart_failed.report(chart))
            composed = await self.r.sources.compose(spec, chart.path)
            if isinstance(composed, SourceError):
                self.out.advance(await finalized)
                return await self.out.carry_out(values_failed.report(composed))
            attempt = Attempt.of(spec, chart, composed)
            async with self.r.locks.hold(spec.release):
                observed, decision = await self.r.observer.look(
                    self.key,
                    spec.release,
                    recorded,
                    attempt.desired,
                    spec.options.timeout,
                    spec=spec,
                )
                self.out.advance(await finalized)
                if decision.action is not Action.UNINSTALL:
                    return await self._act(attempt, observed, decision)
        # The spec names a new release: the old one goes first, under its own lock.
        assert recorded.release is not None  # only a moved release is uninstalled here
        stopped = await self._retire(recorded.release, recorded, spec.options.timeout, attempt)
        return stopped or await self.out.carry_out(moved.report(recorded.release, attempt))

    async def _act(
        self, attempt: Attempt, observed: ObservedRelease | None, decision: Decision
    ) -> Report:
        context = self._context(attempt.spec.release, attempt.spec.options.timeout, observed)
        status = self.out.obj.get("status")
        recorded = Recorded.from_status(status)
        shown = condition_status(status, RELEASED) == TRUE
        match decision.action:
            case Action.NONE:
                assert observed is not None  # in sync means there is a deployed release
                report = in_sync.report(attempt, observed, released_shown=shown)
            case Action.CHECK_DRIFT:
                assert observed is not None  # in sync means there is a deployed release
                checked = await drift_check.run(context, attempt.spec, observed, self.r.drift)
                report = drift_check.report(checked, attempt, observed, released_shown=shown)
            case Action.WAIT:
                report = wait.report(decision, attempt)
            case Action.REFUSE:
                report = refuse.report(decision, attempt)
            case Action.ADOPT:
                report = adopt.report(await adopt.run(context, attempt), attempt)
            case Action.UNLOCK:
                report = unlock.report(await unlock.run(context), attempt)
            case Action.INSTALL | Action.UPGRADE:
                install = decision.action is Action.INSTALL
                progress = apply.progress(
                    attempt, decision.reason, install=install, retry=decision.retry
                )
                applying = apply.run(context, attempt, install=install)
                applied = await self.out.meanwhile(progress, applying)
                report = apply.report(applied, attempt, install=install)
            case Action.TEST:
                assert observed is not None  # only a deployed release is tested
                progress = chart_tests.progress(attempt, decision.reason)
                tested = await self.out.meanwhile(progress, chart_tests.run(context, attempt))
                report = chart_tests.report(tested, attempt, observed)
            case Action.ROLLBACK:
                progress = rollback.progress(attempt, decision.reason)
                rolled = await self.out.meanwhile(progress, rollback.run(context, attempt.spec))
                report = rollback.report(rolled, attempt, recorded.rollbacks)
            case Action.PURGE:
                report = purge.report(await uninstall.run(context), attempt)
            case Action.STOP:
                report = stop.report(decision, attempt, condition_of(status, RELEASED))
            case _:  # pragma: no cover
                raise AssertionError(f"unexpected action {decision.action}")
        return await self.out.carry_out(report)

    async def _delete(self, spec: ReleaseSpec | SpecError, recorded: Recorded) -> Report:
        if not finalizer.present(self.out.obj):
            return finalizer.released()  # not ours to hold
        fallback = spec.release if isinstance(spec, ReleaseSpec) else None
        target = recorded.release or fallback
        if isinstance(spec, ReleaseSpec) and spec.suspend:
            target = None  # helm-controller's rule: a suspended release outlives its HelmRelease
        options = spec.options if isinstance(spec, ReleaseSpec) else ReleaseOptions()
        if target is not None:
            self.out.about(target)
            stopped = await self._retire(target, recorded, options.timeout, None)
            if stopped is not None:
                return stopped
        self.out.advance(await finalizer.remove(self.r.client, self.out.obj))
        return await self.out.carry_out(finalizer.removed())

    async def _retire(
        self,
        release: ReleaseKey,
        recorded: Recorded,
        helm_timeout: float,
        attempt: Attempt | None,
    ) -> Report | None:
        """Uninstall a release this HelmRelease no longer wants, if it is ours and there.

        None when it is gone (or was never ours); else how this reconcile ends.
        """
        async with self.r.locks.hold(release):
            observed, decision = await self.r.observer.look(
                self.key, release, recorded, "", helm_timeout, deleting=True
            )
            if decision.action is Action.WAIT:
                return await self.out.carry_out(wait.report(decision, attempt))
            if decision.action is Action.NONE:
                self.out.log.info("nothing to uninstall: %s", decision.reason)
                return None
            result = await uninstall.run(self._context(release, helm_timeout, observed))
        report = await self.out.carry_out(uninstall.report(result, release, helm_timeout))
        return None if result.ok else report

    def _context(
        self, release: ReleaseKey, helm_timeout: float, observed: ObservedRelease | None
    ) -> ActionContext:
        return ActionContext(
            client=self.r.client,
            runner=self.r.runner,
            release=release,
            timeout=helm_timeout,
            observed=observed,
            index=self.r.releases,
            log_diffs=self.r.log_release_diffs,
            as_user=self.as_user,
        )
