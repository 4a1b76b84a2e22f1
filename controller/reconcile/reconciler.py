"""One reconcile of one HelmRelease: observe, decide (pure), run at most one action, report.

The order is always the same: parse the spec; on deletion, uninstall and drop the
finalizer; else make sure the finalizer is there, fetch the chart, compute the desired
digest, and under the release's lock look at the release (index first, a fresh read
before any change), decide, act. Every outcome ends in the status (conditions, phase)
and, for actions and failures, an Event. Expected failures become an Outcome; only
bugs raise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from controller import metrics
from controller.api import ReleaseSpec, SpecError, parse
from controller.api.v1beta1 import DEFAULT_TIMEOUT
from controller.charts import ChartFetcher, FetchedChart
from controller.charts.auth import RepoAuth
from controller.charts.errors import ChartError
from controller.helm import HelmRunner
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache, resource_version
from controller.kube.client import ApiError, KubeClient, resource_path
from controller.outcome import Outcome
from controller.reconcile import apply, uninstall, unlock
from controller.reconcile.action import ActionContext, ActionResult
from controller.reconcile.decide import Action, Decision, decide
from controller.reconcile.finalizer import add_finalizer, has_finalizer, remove_finalizer
from controller.reconcile.locks import ReleaseLocks
from controller.reconcile.state import (
    Observation,
    Recorded,
    assess,
    desired_digest,
    release_labels,
)
from controller.releases import ObservedRelease, ReleaseIndex, read_release
from controller.settings import Settings
from controller.status import (
    CHART_FETCHED,
    DEPLOYED,
    FALSE,
    PHASE_CHART_FETCH_FAILED,
    PHASE_FAILED,
    PHASE_INSTALLING,
    PHASE_SUCCEEDED,
    PHASE_UPGRADING,
    READY,
    RECONCILING,
    RELEASED,
    STALLED,
    TRUE,
    UNKNOWN,
    Condition,
    EventNote,
    StatusUpdate,
    emit_event,
    generation_of,
    ready_of,
    write_status,
)
from controller.values import merge_values, values_digest

log = logging.getLogger(__name__)

T = TypeVar("T")

PROGRESS_PHASE = {Action.INSTALL: PHASE_INSTALLING, Action.UPGRADE: PHASE_UPGRADING}
READY_GAUGE = {TRUE: 1, UNKNOWN: 0, FALSE: -1}

NOT_RECONCILING = Condition(RECONCILING, FALSE, "Idle", "no operation in progress")
NOT_STALLED = Condition(STALLED, FALSE, "Progressing", "the spec can be acted on")
# Status fields describing the release a HelmRelease manages (cleared when it moves).
RELEASE_FIELDS = ("revision", "releaseStatus", "lastAppliedDigest")
ABSENT = "Absent"
"""What ``_condition_status`` says of a condition the status does not hold."""


@dataclass(frozen=True)
class _Done:
    """How a reconcile ended: what the queue does next, and the metric labels."""

    outcome: Outcome
    action: str  # install, upgrade, uninstall, unlock, none
    result: str  # success, error, noop, requeue


@dataclass(frozen=True)
class _Written:
    """The object after our last write, and the resourceVersions that write superseded.

    The cache lags our own writes; while it still holds a superseded version, the
    written object is the truth (otherwise a lagging status would look like a release
    changed behind our back and trigger a needless upgrade).
    """

    superseded: frozenset[str]
    obj: Mapping[str, Any]


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
        settings: Settings,
    ) -> None:
        self.cache = cache
        self.client = client
        self.charts = charts
        self.runner = runner
        self.releases = releases
        self.locks = locks
        self.settings = settings
        self._written: dict[ObjectKey, _Written] = {}

    async def __call__(self, key: ObjectKey) -> Outcome:
        cached = self.cache.get(key)
        if cached is None:
            self._forget(key)
            return Outcome.forget()
        started = time.monotonic()
        run = _Run(self, key, self._freshest(key, cached))
        try:
            done = await run.reconcile()
        finally:
            self._remember(key, run)
        metrics.RECONCILE_TOTAL.labels(result=done.result, action=done.action).inc()
        metrics.RECONCILE_DURATION.labels(action=done.action).observe(time.monotonic() - started)
        if done.outcome == Outcome.forget():
            self._forget(key)
        else:
            ready = READY_GAUGE[ready_of(run.obj.get("status"))]
            metrics.RELEASE_READY.labels(namespace=key.namespace, name=key.name).set(ready)
            metrics.RELEASE_LAST_RECONCILE.labels(
                namespace=key.namespace, name=key.name
            ).set_to_current_time()
        return done.outcome

    def _freshest(self, key: ObjectKey, cached: Mapping[str, Any]) -> Mapping[str, Any]:
        written = self._written.get(key)
        if written is not None and resource_version(cached) in written.superseded:
            return written.obj
        self._written.pop(key, None)  # the cache caught up (or someone else wrote since)
        return cached

    def _remember(self, key: ObjectKey, run: _Run) -> None:
        if not run.superseded:
            return
        earlier = self._written.get(key)
        superseded = run.superseded | (earlier.superseded if earlier else frozenset())
        self._written[key] = _Written(frozenset(superseded), run.obj)

    def _forget(self, key: ObjectKey) -> None:
        self._written.pop(key, None)
        for gauge in (metrics.RELEASE_READY, metrics.RELEASE_LAST_RECONCILE):
            try:
                gauge.remove(key.namespace, key.name)
            except KeyError:
                pass  # never reported


class _ReleaseLog(logging.LoggerAdapter[logging.Logger]):
    """Adds ``hr`` (and ``release`` once known) to every line, keeping the call's own extra."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class _Run:
    """The state of one reconcile: the freshest object and what was written."""

    def __init__(self, owner: Reconciler, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        self.r = owner
        self.key = key
        self.obj = obj
        self.generation = generation_of(obj)
        """The generation of the spec acted on (``obj`` may move on after a conflict)."""
        self.superseded: set[str] = set()
        self.log = _ReleaseLog(log, {"hr": str(key)})

    async def reconcile(self) -> _Done:
        try:
            return await self._reconcile()
        except ApiError as error:
            return await self._api_failed(error)

    async def _reconcile(self) -> _Done:
        spec = parse(self.obj)
        recorded = Recorded.from_status(self.obj.get("status"))
        if self.obj["metadata"].get("deletionTimestamp"):
            return await self._delete(spec, recorded)
        if isinstance(spec, SpecError):
            return await self._invalid(spec)
        self.log = _ReleaseLog(log, {"hr": str(self.key), "release": str(spec.release)})
        # The finalizer PATCH runs while the chart is fetched and the release looked at
        # (both only read); it is in place before any write of ours and any helm call.
        async with _in_background(add_finalizer(self.r.client, self.obj)) as finalized:
            chart = await self._fetch_chart(spec)
            if isinstance(chart, ChartError):
                self._advance(await finalized)
                return await self._chart_failed(chart)
            attempt = _attempt(spec, chart)
            async with self.r.locks.hold(spec.release):
                observed, decision = await self._look(
                    spec.release, recorded, attempt.desired, spec.timeout, deleting=False
                )
                self._advance(await finalized)
                if decision.action is not Action.UNINSTALL:
                    return await self._act(attempt, observed, decision)
        # The spec names a new release: the old one goes first, under its own lock.
        assert recorded.release is not None  # only a moved release is uninstalled here
        return await self._move(attempt, recorded)

    # --- looking at the release --------------------------------------------------------

    async def _look(
        self,
        release: ReleaseKey,
        recorded: Recorded,
        desired: str,
        helm_timeout: float,
        *,
        deleting: bool,
    ) -> tuple[ObservedRelease | None, Decision]:
        """Observe and decide; the index answers unless it disagrees with our status or we
        are about to change something, then the API does (the index lags our writes)."""
        observed = self.r.releases.latest(release)
        fresh = deleting or (observed.revision if observed else None) != recorded.revision
        if fresh:
            observed = await read_release(self.r.client, release)
        decision = self._decide(observed, release, recorded, desired, helm_timeout, deleting)
        if not fresh and decision.action is not Action.NONE:
            observed = await read_release(self.r.client, release)
            decision = self._decide(observed, release, recorded, desired, helm_timeout, deleting)
        return observed, decision

    def _decide(
        self,
        observed: ObservedRelease | None,
        release: ReleaseKey,
        recorded: Recorded,
        desired: str,
        timeout: float,
        deleting: bool,
    ) -> Decision:
        observation = Observation(
            owner_namespace=self.key.namespace,
            owner_name=self.key.name,
            release=release,
            recorded=recorded,
            observed=observed,
            desired_digest=desired,
        )
        assessment = assess(observation)
        modified = observed.modified_at if observed is not None else None
        decision = decide(
            assessment,
            deleting=deleting,
            helm_running=self.r.runner.is_running(release),
            locked_for=None if modified is None else time.time() - modified,
            timeout=timeout,
        )
        self.log.debug(
            "%s -> %s: %s", assessment.state.value, decision.action.value, decision.reason
        )
        return decision

    # --- acting ------------------------------------------------------------------------

    async def _act(
        self,
        attempt: _Attempt,
        observed: ObservedRelease | None,
        decision: Decision,
    ) -> _Done:
        if decision.action is Action.NONE:
            return await self._in_sync(attempt, observed)
        if decision.action is Action.WAIT:
            return await self._wait(decision, attempt.fetched, attempt.fields)
        if decision.action is Action.REFUSE:
            return await self._refuse(attempt, decision)
        if decision.action is Action.UNLOCK:
            return await self._unlock(attempt, observed)
        return await self._apply(attempt, observed, decision)

    async def _apply(
        self, attempt: _Attempt, observed: ObservedRelease | None, decision: Decision
    ) -> _Done:
        spec, action = attempt.spec, decision.action
        verb = action.value.capitalize()
        # A status that says nothing yet misleads nobody while helm runs: the first
        # status a new HelmRelease gets is the outcome (one write fewer per install).
        if self._condition_status(READY) != ABSENT:
            await self._status(
                StatusUpdate(
                    phase=PROGRESS_PHASE[action],
                    conditions=(
                        attempt.fetched,
                        Condition(RECONCILING, TRUE, PROGRESS_PHASE[action], decision.reason),
                        NOT_STALLED,
                    ),
                    fields=attempt.fields,
                )
            )
        context = replace(
            self._context(spec.release, spec.timeout, observed),
            spec=spec,
            chart=attempt.chart,
            values=attempt.values,
            labels=release_labels(self.key.namespace, self.key.name, attempt.desired),
            index=self.r.releases,
        )
        result = await apply.run(context, install=action is Action.INSTALL)
        fields: dict[str, Any] = {
            **attempt.fields,
            "releaseName": spec.release_name,
            "targetNamespace": spec.target_namespace,
        }
        if result.revision is not None:
            fields["revision"] = result.revision
        if result.release_status is not None:
            fields["releaseStatus"] = result.release_status
        if result.ok:
            fields["lastAppliedDigest"] = attempt.desired
        outcome = StatusUpdate(
            phase=result.phase,
            conditions=(
                attempt.fetched,
                Condition(RELEASED, TRUE if result.ok else FALSE, result.reason, result.message),
                _deployed(spec.release, result.release_status),
                NOT_RECONCILING,
                NOT_STALLED,
            ),
            fields=fields,
        )
        return await self._finish(result, action, verb, outcome)

    async def _in_sync(self, attempt: _Attempt, observed: ObservedRelease | None) -> _Done:
        spec = attempt.spec
        assert observed is not None  # IN_SYNC means there is a deployed release
        conditions = [attempt.fetched, _deployed(spec.release, observed.status)]
        conditions += [NOT_RECONCILING, NOT_STALLED]
        if self._condition_status(RELEASED) != TRUE:  # e.g. the last write of it was lost
            conditions.append(
                Condition(
                    RELEASED,
                    TRUE,
                    "ReleaseInSync",
                    f"release {spec.release} revision {observed.revision} is up to date",
                )
            )
        changed = await self._status(
            StatusUpdate(
                phase=PHASE_SUCCEEDED,
                conditions=tuple(conditions),
                fields={
                    **attempt.fields,
                    "releaseName": spec.release_name,
                    "targetNamespace": spec.target_namespace,
                    "revision": observed.revision,
                    "releaseStatus": observed.status,
                    "lastAppliedDigest": attempt.desired,
                },
            )
        )
        self.log.debug("in sync%s", " (status updated)" if changed else "")
        return _Done(Outcome.resync(), "none", "noop")

    async def _wait(
        self, decision: Decision, fetched: Condition | None, fields: Mapping[str, Any]
    ) -> _Done:
        locked = Condition(RECONCILING, TRUE, "ReleaseLocked", decision.reason)
        known = (fetched,) if fetched is not None else ()
        await self._status(StatusUpdate(conditions=(*known, locked, NOT_STALLED), fields=fields))
        self.log.info("waiting %.0fs: %s", decision.after, decision.reason)
        return _Done(Outcome.requeue(decision.after), "none", "requeue")

    async def _refuse(self, attempt: _Attempt, decision: Decision) -> _Done:
        message = f"{decision.reason}; not touching it"
        changed = await self._status(
            StatusUpdate(
                phase=PHASE_FAILED,
                conditions=(
                    attempt.fetched,
                    Condition(RELEASED, FALSE, "ReleaseRefused", message),
                    Condition(STALLED, TRUE, "ReleaseRefused", message),
                    NOT_RECONCILING,
                ),
                fields=attempt.fields,
            )
        )
        if changed:  # once per change, not on every resync
            self.log.warning("refused: %s", decision.reason)
            await self._event(EventNote("ReleaseRefused", message, "Refuse", warning=True))
        return _Done(Outcome.resync(), "none", "error")

    async def _unlock(self, attempt: _Attempt, observed: ObservedRelease | None) -> _Done:
        spec = attempt.spec
        result = await unlock.run(self._context(spec.release, spec.timeout, observed))
        condition = (
            Condition(RECONCILING, TRUE, result.reason, result.message)
            if result.ok
            else Condition(RELEASED, FALSE, result.reason, result.message)
        )
        outcome = StatusUpdate(
            conditions=(attempt.fetched, condition, NOT_STALLED), fields=attempt.fields
        )
        done = await self._finish(result, Action.UNLOCK, "Unlock", outcome)
        # unlocked: upgrade right away (the next look reads the release fresh)
        return _Done(Outcome.requeue(0.0), done.action, done.result) if result.ok else done

    async def _move(self, attempt: _Attempt, recorded: Recorded) -> _Done:
        spec, old = attempt.spec, recorded.release
        assert old is not None
        retired = await self._retire(old, recorded, spec.timeout, attempt.fetched)
        if retired is not None:
            return retired
        await self._status(
            StatusUpdate(
                conditions=(
                    attempt.fetched,
                    Condition(
                        RECONCILING,
                        TRUE,
                        "ReleaseMoved",
                        f"release moved from {old} to {spec.release}; installing",
                    ),
                    NOT_STALLED,
                ),
                fields={
                    **dict.fromkeys(RELEASE_FIELDS),
                    "releaseName": spec.release_name,
                    "targetNamespace": spec.target_namespace,
                },
            )
        )
        return _Done(Outcome.requeue(0.0), "uninstall", "success")

    async def _delete(self, spec: ReleaseSpec | SpecError, recorded: Recorded) -> _Done:
        if not has_finalizer(self.obj):
            return _Done(Outcome.forget(), "none", "noop")  # not ours to hold
        fallback = spec.release if isinstance(spec, ReleaseSpec) else None
        target = recorded.release or fallback
        timeout = spec.timeout if isinstance(spec, ReleaseSpec) else DEFAULT_TIMEOUT
        if target is not None:
            self.log = _ReleaseLog(log, {"hr": str(self.key), "release": str(target)})
            retired = await self._retire(target, recorded, timeout, None)
            if retired is not None:
                return retired
        self._advance(await remove_finalizer(self.r.client, self.obj))
        self.log.info("finalizer removed")
        return _Done(Outcome.forget(), "uninstall", "success")

    async def _retire(
        self,
        release: ReleaseKey,
        recorded: Recorded,
        helm_timeout: float,
        fetched: Condition | None,
    ) -> _Done | None:
        """Uninstall a release this HelmRelease no longer wants, if it is ours and there.

        None when it is gone (or was never ours); else how this reconcile ends.
        """
        async with self.r.locks.hold(release):
            observed, decision = await self._look(
                release, recorded, "", helm_timeout, deleting=True
            )
            if decision.action is Action.WAIT:
                return await self._wait(decision, fetched, {})
            if decision.action is Action.NONE:
                self.log.info("nothing to uninstall: %s", decision.reason)
                return None
            result = await uninstall.run(self._context(release, helm_timeout, observed))
        if result.ok:
            await self._finish(result, Action.UNINSTALL, "Uninstall")
            return None
        outcome = StatusUpdate(
            phase=result.phase,
            conditions=(Condition(RELEASED, FALSE, result.reason, result.message),),
        )
        return await self._finish(result, Action.UNINSTALL, "Uninstall", outcome)

    # --- failures before any action ------------------------------------------------------

    async def _invalid(self, error: SpecError) -> _Done:
        message = f"invalid spec: {error}"
        changed = await self._status(
            StatusUpdate(
                phase=PHASE_FAILED,
                conditions=(Condition(STALLED, TRUE, "InvalidSpec", message), NOT_RECONCILING),
            )
        )
        if changed:  # once per change, not on every resync
            self.log.warning("%s", message)
            await self._event(EventNote("InvalidSpec", message, "Validate", warning=True))
        return _Done(Outcome.resync(), "none", "error")

    async def _chart_failed(self, error: ChartError) -> _Done:
        await self._status(
            StatusUpdate(
                phase=PHASE_CHART_FETCH_FAILED,
                conditions=(
                    Condition(CHART_FETCHED, FALSE, error.reason, error.message),
                    NOT_RECONCILING,
                    NOT_STALLED,
                ),
            )
        )
        self.log.warning("chart fetch failed: %s: %s", error.reason, error.message)
        await self._event(
            EventNote("ChartFetchFailed", f"{error.reason}: {error.message}", "Fetch", True)
        )
        # A retryable failure comes back with backoff; another waits for the resync.
        return _Done(Outcome.retry() if error.retryable else Outcome.resync(), "none", "error")

    async def _api_failed(self, error: ApiError) -> _Done:
        message = f"Kubernetes API request failed: {error}"
        self.log.warning("%s", message)
        try:
            await self._status(
                StatusUpdate(conditions=(Condition(RECONCILING, TRUE, "ApiError", message),))
            )
        except ApiError:
            pass  # the API is what failed; the Event below may still get through
        await self._event(EventNote("ReconcileError", message, "Reconcile", warning=True))
        return _Done(Outcome.retry(), "none", "error")

    # --- helpers -------------------------------------------------------------------------

    def _context(
        self, release: ReleaseKey, helm_timeout: float, observed: ObservedRelease | None
    ) -> ActionContext:
        """What an action on ``release`` works with (an apply adds the chart and values)."""
        return ActionContext(
            client=self.r.client,
            runner=self.r.runner,
            release=release,
            timeout=helm_timeout,
            observed=observed,
        )

    async def _fetch_chart(self, spec: ReleaseSpec) -> FetchedChart | ChartError:
        auth: RepoAuth | None = None
        if spec.chart.pull_secret is not None:
            found = await self._pull_secret_auth(spec.namespace, spec.chart.pull_secret)
            if isinstance(found, ChartError):
                return found
            auth = found
        chart = spec.chart
        return await self.r.charts.fetch(chart.repository, chart.name, chart.version, auth)

    async def _pull_secret_auth(self, namespace: str, name: str) -> RepoAuth | ChartError:
        secret = await self.r.client.get(
            resource_path("", "v1", "secrets", namespace=namespace, name=name)
        )
        if secret is None:
            return ChartError("Unauthorized", f"chart pull secret {name} not found", True)
        data = secret.get("data") or {}
        try:
            decoded = {key: base64.b64decode(value, validate=True) for key, value in data.items()}
        except (binascii.Error, TypeError, AttributeError):
            return ChartError("Unauthorized", f"chart pull secret {name} is malformed", False)
        return RepoAuth.from_secret_data(decoded)

    async def _status(self, update: StatusUpdate) -> bool:
        """Write ``update`` into the status; whether anything was written."""
        before = resource_version(self.obj)
        written = await write_status(self.r.client, self.obj, update, generation=self.generation)
        self._advance(written)
        return resource_version(self.obj) != before

    def _advance(self, obj: Mapping[str, Any]) -> None:
        """Continue from ``obj``, the result of one of our writes."""
        before = resource_version(self.obj)
        if resource_version(obj) != before and before is not None:
            self.superseded.add(before)
        self.obj = obj

    def _condition_status(self, kind: str) -> str:
        """The status of condition ``kind``; ABSENT when the status has none."""
        status = self.obj.get("status")
        conditions = status.get("conditions") if isinstance(status, Mapping) else None
        for condition in conditions if isinstance(conditions, list) else []:
            if isinstance(condition, Mapping) and condition.get("type") == kind:
                return str(condition.get("status"))
        return ABSENT

    async def _event(self, event: EventNote) -> None:
        await emit_event(self.r.client, self.obj, event)

    async def _finish(
        self, result: ActionResult, action: Action, verb: str, outcome: StatusUpdate | None = None
    ) -> _Done:
        """Log and record an Event for an action's result, and write ``outcome`` into the
        status meanwhile (the two are independent); how the reconcile ends."""
        if result.ok:
            self.log.info("%s", result.message, extra={"action": action.value})
        else:
            self.log.warning("%s", result.message, extra={"action": action.value})
        note = EventNote(result.reason, result.message, verb, warning=not result.ok)
        async with _in_background(emit_event(self.r.client, self.obj, note)) as event:
            if outcome is not None:
                await self._status(outcome)
            await event
        return _Done(
            Outcome.resync() if result.ok else Outcome.retry(),
            action.value,
            "success" if result.ok else "error",
        )


@contextlib.asynccontextmanager
async def _in_background(work: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Task[T]]:
    """``work`` running as a task while the body runs (which awaits it for its result).

    A body that ends before awaiting it (an error, a cancellation) cancels it and waits
    for it to end: it never outlives the body, and the body's error is what is raised.
    """
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the body saw it already, or failed first


def _attempt(spec: ReleaseSpec, chart: FetchedChart) -> _Attempt:
    """What applying ``chart`` with the spec's values means (digests, status fields)."""
    values = merge_values([spec.values])
    checksum = values_digest(values)
    return _Attempt(
        spec=spec,
        chart=chart,
        values=values,
        desired=desired_digest(spec, chart.digest, checksum),
        fields={"lastAttemptedRevision": chart.version, "valuesChecksum": checksum},
        fetched=Condition(
            CHART_FETCHED, TRUE, "ChartFetched", f"fetched chart {chart.name} {chart.version}"
        ),
    )


@dataclass(frozen=True)
class _Attempt:
    """What this reconcile wants applied."""

    spec: ReleaseSpec
    chart: FetchedChart
    values: Mapping[str, Any]
    desired: str
    fields: Mapping[str, Any]
    """Status fields about the attempt (chart version, values checksum)."""
    fetched: Condition


def _deployed(release: ReleaseKey, status: str | None) -> Condition:
    if status == "deployed":
        return Condition(DEPLOYED, TRUE, "Deployed", f"release {release} is deployed")
    if status is None:
        return Condition(DEPLOYED, UNKNOWN, "Unknown", f"status of release {release} is unknown")
    reason = "".join(part.capitalize() for part in status.split("-"))
    return Condition(DEPLOYED, FALSE, reason, f"release {release} is {status}")
