"""Observe a release and decide what to do about it: the release record, then the pure core.

The release index (fed by a watch) answers unless it disagrees with what our status
recorded, or the decision would change something: then the record is read from the
API, since the index lags helm's latest writes. A first install is the exception: when
neither the status nor the listed index knows a release, one made since was made at most
the watch's lag ago, and a read would not close that window (helm starts later still);
``helm upgrade --install`` upgrades a release that turns out to exist, and the record it
leaves is read as after any helm. Only a release that carries no owner
labels at all (freshly read) has its resources' antecedent annotations read: the
evidence that helm-operator released it for this HelmRelease. A release of ours never
costs more than its record.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from controller.api import DriftMode, ReleaseSpec, RollbackPolicy
from controller.helm import HelmRunner
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.client import KubeClient
from controller.reconcile.antecedent import Antecedents
from controller.reconcile.decide import Action, Decision, decide
from controller.reconcile.state import Observation, Recorded, ReleaseState, assess, unclaimed
from controller.releases import ObservedRelease, ReleaseIndex, read_release

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observer:
    client: KubeClient
    index: ReleaseIndex
    runner: HelmRunner
    antecedents: Antecedents
    clock: Callable[[], float] = time.time
    """Wall-clock time, to age a pending record by the API server's timestamp."""

    async def look(
        self,
        owner: ObjectKey,
        release: ReleaseKey,
        recorded: Recorded,
        desired: str,
        helm_timeout: float,
        *,
        deleting: bool = False,
        spec: ReleaseSpec | None = None,
    ) -> tuple[ObservedRelease | None, Decision]:
        """The latest record of ``release`` and what HelmRelease ``owner`` does about it
        (``spec``: what it asks for, unless it is being deleted)."""
        observed = self.index.latest(release)
        fresh = deleting or (observed.revision if observed else None) != recorded.revision
        if fresh:
            observed = await read_release(self.client, release)
        observation = Observation(
            owner=owner,
            release=release,
            recorded=recorded,
            observed=observed,
            desired_digest=desired,
            tests=spec is not None and spec.test.enable,
            requested_at=spec.requested_at if spec is not None else None,
            force_at=spec.force_at if spec is not None else None,
        )
        decide_on = functools.partial(
            self._decide, helm_timeout=helm_timeout, deleting=deleting, spec=spec
        )
        decision = decide_on(observation)
        if not fresh and self._acts_on_the_index_alone(observation, decision):
            observed = await read_release(self.client, release)
            observation = replace(observation, observed=observed)
            decision = decide_on(observation)
        if unclaimed(observed) and assess(observation).state is ReleaseState.FOREIGN:
            # FOREIGN leads to REFUSE, not NONE, unless deleting (which always reads
            # fresh): the record is fresh here either way
            assert observed is not None
            found = await self.antecedents.read(observed)
            observation = replace(observation, antecedents=found)
            decision = decide_on(observation)
        return observed, decision

    def _acts_on_the_index_alone(self, observation: Observation, decision: Decision) -> bool:
        """Whether the decision would change something on the index's word alone, which is
        not enough: all but the first install of a release that neither the status nor the
        listed index knows."""
        if decision.action in (Action.NONE, Action.STOP, Action.CHECK_DRIFT):
            return False
        nothing_known = observation.observed is None and observation.recorded.revision is None
        first_install = decision.action is Action.INSTALL and nothing_known
        return not (first_install and self.index.listed.is_set())

    def _decide(
        self,
        observation: Observation,
        *,
        helm_timeout: float,
        deleting: bool,
        spec: ReleaseSpec | None,
    ) -> Decision:
        assessment = assess(observation)
        observed = observation.observed
        started = observed.created_at if observed is not None else None
        decision = decide(
            assessment,
            deleting=deleting,
            helm_running=self.runner.is_running(observation.release),
            # never negative: the API server's clock may be ahead of ours
            locked_for=None if started is None else max(self.clock() - started, 0.0),
            timeout=self.runner.lifetime(helm_timeout),
            rollback=spec.rollback if spec is not None else RollbackPolicy(),
            rollbacks=observation.recorded.rollbacks,
            drift=spec is not None and spec.drift.mode is not DriftMode.DISABLED,
        )
        log.debug(
            "%s -> %s: %s",
            assessment.state.value,
            decision.action.value,
            decision.reason,
            extra={"hr": str(observation.owner)},
        )
        return decision
