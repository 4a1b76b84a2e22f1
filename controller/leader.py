"""Leader election on a coordination.k8s.io/v1 Lease, the way client-go does it.

A replica acquires the Lease by creating it or by taking it over once it is
free (no holder) or expired; it then renews it every ``retry_period``. Every
write is a PUT conditional on the resourceVersion read just before, so of two
replicas racing for the Lease exactly one wins (the other gets 409). Expiry is
judged on our own monotonic clock from when we last saw the Lease change, never
by comparing another machine's timestamps with ours. A leader that cannot renew
within ``renew_deadline`` stops leading at once (before anyone else may take
over, as renew_deadline < lease_duration); on shutdown it releases the Lease by
clearing the holder, so the next replica takes over immediately.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controller import metrics
from controller.kube.client import ApiError, Conflict, KubeClient, resource_path
from controller.settings import LeaderSettings

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class _Attempt(enum.Enum):
    HELD = "held"  # we hold the Lease now
    TAKEN = "taken"  # someone else holds a valid Lease
    FAILED = "failed"  # could not tell (conflict, API error): try again


EXPIRY_MARGIN = 0.01
"""Seconds past a Lease's expiry on our clock before trying to take it (a timer may fire a
little early)."""


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Run ``run()`` as a task; ``is_leader``/``leading`` say whether we lead right now."""

    def __init__(
        self,
        client: KubeClient,
        settings: LeaderSettings,
        *,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._rng = rng or random.Random()
        self.identity = settings.identity or default_identity()
        self.leading = asyncio.Event()
        """Set while this replica holds the Lease."""
        self._path = resource_path(
            "coordination.k8s.io", "v1", "leases", settings.lease_namespace, settings.lease_name
        )
        self._observed: tuple[Any, ...] | None = None  # the Lease record last seen
        self._observed_at = 0.0  # monotonic time it was first seen
        self._expires_at = math.inf  # when the Lease held by another expires on our clock

    @property
    def is_leader(self) -> bool:
        return self.leading.is_set()

    async def run(self) -> None:
        """Acquire, lead while renewing, re-acquire after losing; release when cancelled."""
        try:
            while True:
                await self._acquire()
                self._start_leading()
                await self._renew_until_lost()
                self._stop_leading()
        finally:
            if self.is_leader:
                self._stop_leading()
                await self.release()

    async def release(self) -> None:
        """Give the Lease up now (clear the holder) if we hold it; errors are only logged."""
        try:
            async with asyncio.timeout(self._settings.renew_deadline):
                lease = await self._client.get(self._path)
                if lease is None or _spec(lease).get("holderIdentity") != self.identity:
                    return
                spec = _spec(lease)
                spec.pop("holderIdentity", None)
                spec["leaseDurationSeconds"] = 1
                spec["renewTime"] = _micro_time(datetime.now(UTC))
                await self._client.request("PUT", self._path, body=lease)
            log.info("released the leader lease %s", self._path)
        except (ApiError, TimeoutError) as error:
            log.warning("could not release the leader lease: %s", error)

    async def _acquire(self) -> None:
        while True:
            attempt = await self._attempt()
            if attempt is _Attempt.HELD:
                return
            await asyncio.sleep(self._until_next_attempt(attempt))

    def _until_next_attempt(self, attempt: _Attempt) -> float:
        """A retry period (with jitter); after finding the Lease held by another, no later
        than when it expires on our clock, so that a dead leader is replaced as soon as
        its Lease runs out, not up to a retry period later."""
        retry = self._settings.retry_period * self._rng.uniform(1.0, 1.2)
        if attempt is not _Attempt.TAKEN:
            return retry
        return max(0.0, min(retry, self._expires_at - time.monotonic() + EXPIRY_MARGIN))

    async def _renew_until_lost(self) -> None:
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(self._settings.retry_period)
            remaining = self._settings.renew_deadline - (time.monotonic() - last_renewal)
            if remaining <= 0:
                log.warning("could not renew the leader lease within the renew deadline")
                return
            try:
                async with asyncio.timeout(remaining):
                    attempt = await self._attempt()
            except TimeoutError:
                attempt = _Attempt.FAILED
            if attempt is _Attempt.HELD:
                last_renewal = time.monotonic()
            elif attempt is _Attempt.TAKEN:
                log.warning("the leader lease was taken by another replica")
                return

    async def _attempt(self) -> _Attempt:
        """Create, take over or renew the Lease once."""
        try:
            lease = await self._client.get(self._path)
            if lease is None:
                await self._create()
                return _Attempt.HELD
            if self._held_by_other(lease):
                return _Attempt.TAKEN
            await self._client.request("PUT", self._path, body=self._claimed(lease))
            return _Attempt.HELD
        except Conflict:
            return _Attempt.FAILED  # someone wrote first; the next read tells who holds it
        except ApiError as error:
            log.warning("leader lease request failed: %s", error)
            return _Attempt.FAILED

    async def _create(self) -> None:
        namespace = self._settings.lease_namespace
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self._settings.lease_name, "namespace": namespace},
            "spec": {},
        }
        path = resource_path("coordination.k8s.io", "v1", "leases", namespace)
        await self._client.request("POST", path, body=self._claimed(lease))

    def _held_by_other(self, lease: dict[str, Any]) -> bool:
        """Whether another replica holds ``lease`` and it has not expired on our clock."""
        spec = _spec(lease)
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            lease.get("metadata", {}).get("resourceVersion"),
        )
        now = time.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, now
        holder = spec.get("holderIdentity")
        if not holder or holder == self.identity:
            return False
        duration = spec.get("leaseDurationSeconds")
        if not isinstance(duration, int | float):
            duration = self._settings.lease_duration
        self._expires_at = self._observed_at + duration
        return now < self._expires_at

    def _claimed(self, lease: dict[str, Any]) -> dict[str, Any]:
        """``lease`` with us as the holder, renewed now (a new acquisition if it wasn't ours)."""
        spec = dict(_spec(lease))
        now = _micro_time(datetime.now(UTC))
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now
            transitions = spec.get("leaseTransitions")
            existed = "resourceVersion" in lease.get("metadata", {})
            count = transitions if isinstance(transitions, int) else 0
            spec["leaseTransitions"] = count + 1 if existed else 0
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = math.ceil(self._settings.lease_duration)
        spec["renewTime"] = now
        return {**lease, "spec": spec}

    def _start_leading(self) -> None:
        log.info("started leading as %s", self.identity)
        self.leading.set()
        metrics.LEADER.set(1)
        if self._on_started is not None:
            self._on_started()

    def _stop_leading(self) -> None:
        log.info("stopped leading as %s", self.identity)
        self.leading.clear()
        metrics.LEADER.set(0)
        if self._on_stopped is not None:
            self._on_stopped()


def _spec(lease: dict[str, Any]) -> dict[str, Any]:
    spec = lease.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        lease["spec"] = spec
    return spec
