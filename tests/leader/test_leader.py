"""Leader election between replicas of one API server, pausing workers when not leading.

Two replicas (elector + queue + workers, one recording reconciler shared by
both): exactly one leads and only its workers reconcile; a leader that shuts
down releases the Lease and the other takes over without waiting for it to
expire (it lasts an hour there); a leader cut off from the API server (as a killed
or partitioned process) stops leading before the other takes over, cancelling its
in-flight reconciles at once; a standby takes over as soon as the Lease it saw held
expires, whatever its retry period; never does a key get reconciled by both.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from leadertesting import LEASE_NAMESPACE, PartitionMaker, replica_client
from prometheus_client import REGISTRY

from apiserver.server import ApiServer
from controller.app import stop_leading
from controller.keys import ObjectKey
from controller.kube.client import KubeClient, resource_path
from controller.leader import LeaderElector
from controller.outcome import Outcome
from controller.queue import WorkQueue
from controller.settings import LeaderSettings, QueueSettings
from controller.workers import Reconciler, Workers
from testkit import wait_for

pytestmark = pytest.mark.usefixtures("lease_namespace")

# A cut-off leader stops 2 s after its last renewal, the other takes over 4 s after it
# saw that renewal: a request (1 s at most) and a busy machine's delays fit in between,
# and a leader that is not cut off survives a second or two without a renewal.
LEADER = LeaderSettings(
    enabled=True,
    lease_name="helmrelease-operator",
    lease_namespace=LEASE_NAMESPACE,
    lease_duration=4.0,
    renew_deadline=2.0,
    retry_period=0.1,
)
LASTING = dataclasses.replace(LEADER, lease_duration=3600.0, renew_deadline=1800.0)
"""A Lease that never expires during a test: a takeover can only follow a release."""
SLOW_RETRY = 120.0
"""A retry period far longer than LEADER's Lease (4 s) and the suite's waits."""
QUEUE = QueueSettings(workers=2, retry_initial=0.01, retry_max=0.05)
KEYS = [ObjectKey("flux.weave.works", "default", f"hr-{i}") for i in range(5)]
LEASE = resource_path(
    "coordination.k8s.io", "v1", "leases", LEASE_NAMESPACE, "helmrelease-operator"
)


class Recorder:
    """The reconciler of every replica: counts work, flags work done by two replicas at once."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.overlaps = 0
        self.leadership: list[tuple[str, str]] = []  # ("start"|"stop", replica) in order
        self.hang = False  # reconciles hang until cancelled (as a long helm run)
        self._changed = asyncio.Event()

    def reconciler(self, replica: str) -> Reconciler:
        async def reconcile(key: ObjectKey) -> Outcome:
            if any(n for other, n in self.in_flight.items() if other != replica):
                self.overlaps += 1
            self.in_flight[replica] += 1
            try:
                await asyncio.sleep(0)  # let other workers interleave
                self.counts[replica] += 1
                if self.hang:
                    self.changed()
                    await self._hang(replica)
            finally:
                self.in_flight[replica] -= 1
                self.changed()
            return Outcome.requeue(0.005)

        return reconcile

    async def _hang(self, replica: str) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.leadership.append(("cancelled", replica))
            raise

    def changed(self) -> None:
        self._changed.set()

    async def wait(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until ``predicate()`` holds, re-checking after every change."""
        await wait_for(predicate, what=what, changed=self._changed)

    def leadership_never_overlapped(self) -> bool:
        leading: set[str] = set()
        for event, replica in self.leadership:
            if event == "start":
                if leading:
                    return False
                leading.add(replica)
            elif event == "stop":
                leading.discard(replica)
        return True


class Replica:
    """One operator process: its own client, queue, workers and elector."""

    def __init__(
        self, name: str, client: KubeClient, recorder: Recorder, settings: LeaderSettings
    ) -> None:
        self.name = name
        self.client = client
        self.recorder = recorder
        self.queue: WorkQueue[ObjectKey] = WorkQueue(QUEUE)
        self.workers = Workers(
            self.queue, recorder.reconciler(name), QUEUE, paused=True, name=f"{name}-worker"
        )
        self.elector = LeaderElector(
            client,
            dataclasses.replace(settings, identity=name),
            on_started_leading=self._started,
            on_stopped_leading=self._stopped,
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        for key in KEYS:
            self.queue.add(key)
        self.workers.start()
        self.task = asyncio.create_task(self.elector.run(), name=f"{self.name}-elector")

    async def stop(self) -> None:
        """Shut down in the operator's order: drain work, then release the Lease."""
        await self.workers.drain(grace=1.0)
        if self.task is not None:
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.task
            self.task = None
        await self.client.close()

    def _started(self) -> None:
        self.recorder.leadership.append(("start", self.name))
        self.workers.resume()
        self.recorder.changed()

    def _stopped(self) -> None:
        self.recorder.leadership.append(("stop", self.name))
        stop_leading(self.workers)  # the operator's own reaction
        self.recorder.changed()


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    """Replicas a test started; stopped at its end."""
    started: list[Replica] = []
    yield started
    for replica in started:
        await replica.stop()


async def start_replica(
    replicas: list[Replica],
    name: str,
    api: ApiServer,
    tmp_path: Path,
    recorder: Recorder,
    port: int | None = None,
    settings: LeaderSettings = LEADER,
) -> Replica:
    client = await replica_client(api, tmp_path / f"{name}.kubeconfig", port or api.port)
    replica = Replica(name, client, recorder, settings)
    replica.start()
    replicas.append(replica)
    return replica


async def lease_spec(api: ApiServer, tmp_path: Path) -> dict[str, object]:
    async with await replica_client(api, tmp_path / "reader.kubeconfig", api.port) as client:
        lease = await client.get(LEASE)
    assert lease is not None
    spec = lease["spec"]
    assert isinstance(spec, dict)
    return spec


def leader_gauge() -> float | None:
    return REGISTRY.get_sample_value("helmrelease_leader")


async def test_one_replica_leads_and_hands_over_on_release(
    api: ApiServer, tmp_path: Path, replicas: list[Replica]
) -> None:
    recorder = Recorder()
    first = await start_replica(replicas, "first", api, tmp_path, recorder, settings=LASTING)
    await recorder.wait(lambda: first.elector.is_leader, "first to lead")
    second = await start_replica(replicas, "second", api, tmp_path, recorder, settings=LASTING)
    await recorder.wait(lambda: recorder.counts["first"] >= 50, "first to reconcile")
    assert not second.elector.is_leader
    assert recorder.counts["second"] == 0
    assert leader_gauge() == 1
    spec = await lease_spec(api, tmp_path)
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("first", 3600)

    await first.stop()  # drains, then releases the Lease
    replicas.remove(first)
    await recorder.wait(lambda: second.elector.is_leader, "second to take the released Lease")
    await recorder.wait(lambda: recorder.counts["second"] >= 50, "second to reconcile")
    spec = await lease_spec(api, tmp_path)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("second", 1)
    assert recorder.overlaps == 0
    assert recorder.leadership_never_overlapped()


async def test_a_cut_off_leader_stops_before_the_other_takes_over(
    api: ApiServer, tmp_path: Path, replicas: list[Replica], make_partition: PartitionMaker
) -> None:
    recorder = Recorder()
    partition = await make_partition()
    first = await start_replica(replicas, "first", api, tmp_path, recorder, partition.port)
    await recorder.wait(lambda: first.elector.is_leader, "first to lead")
    second = await start_replica(replicas, "second", api, tmp_path, recorder)
    await recorder.wait(lambda: recorder.counts["first"] >= 50, "first to reconcile")

    await partition.cut()  # the leader can no longer renew, nor release
    await recorder.wait(lambda: second.elector.is_leader, "second to take the expired Lease")
    assert not first.elector.is_leader
    assert recorder.leadership == [("start", "first"), ("stop", "first"), ("start", "second")]
    before = recorder.counts["first"]
    await recorder.wait(lambda: recorder.counts["second"] >= 50, "second to reconcile")
    assert recorder.counts["first"] == before  # the old leader started nothing new
    assert recorder.overlaps == 0


async def test_a_standby_takes_over_when_the_lease_expires_not_at_its_next_retry(
    api: ApiServer, tmp_path: Path, replicas: list[Replica], make_partition: PartitionMaker
) -> None:
    """Its retry period is far longer than the Lease: it looks again when the Lease it saw
    held runs out (on its clock), so a dead leader costs a Lease duration, no more."""
    recorder = Recorder()
    partition = await make_partition()
    first = await start_replica(replicas, "first", api, tmp_path, recorder, partition.port)
    await recorder.wait(lambda: first.elector.is_leader, "first to lead")
    patient = dataclasses.replace(LEADER, retry_period=SLOW_RETRY)
    second = await start_replica(replicas, "second", api, tmp_path, recorder, settings=patient)
    await recorder.wait(lambda: recorder.counts["first"] >= 50, "first to reconcile")

    await partition.cut()
    await wait_for(
        lambda: second.elector.is_leader,
        what="second to take the Lease when it expires",
        within=SLOW_RETRY / 2,  # it would have taken a retry period of SLOW_RETRY or more
    )
    assert recorder.leadership == [("start", "first"), ("stop", "first"), ("start", "second")]


async def test_a_cut_off_leader_cancels_in_flight_reconciles_before_the_other_takes_over(
    api: ApiServer, tmp_path: Path, replicas: list[Replica], make_partition: PartitionMaker
) -> None:
    recorder = Recorder()
    recorder.hang = True
    partition = await make_partition()
    first = await start_replica(replicas, "first", api, tmp_path, recorder, partition.port)
    await recorder.wait(lambda: recorder.in_flight["first"] == QUEUE.workers, "first's hangs")
    second = await start_replica(replicas, "second", api, tmp_path, recorder)

    await partition.cut()  # the leader can no longer renew, nor release
    await recorder.wait(lambda: second.elector.is_leader, "second to take the expired Lease")
    assert recorder.leadership == [
        ("start", "first"),
        ("stop", "first"),
        *[("cancelled", "first")] * QUEUE.workers,  # at once, not after the helm runs end
        ("start", "second"),
    ]
    assert recorder.in_flight["first"] == 0
    await recorder.wait(lambda: recorder.in_flight["second"] == QUEUE.workers, "second's hangs")
    assert first.workers.busy == 0  # its workers survived, paused
