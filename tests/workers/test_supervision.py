"""Workers are supervised: one that dies is never silently gone, and draining can be hurried.

A failure inside a reconcile is the reconciler's (logged, retried); a worker that
dies anyway, here from a fault injected into the queue at the point it schedules a
key, makes ``supervise`` raise, so the process stops instead of working on with one
worker less. A drain ends supervision quietly. ``drain`` with a ``hurry`` event stops
waiting for in-flight reconciles as soon as it is set, long before the grace period.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.keys import ObjectKey
from controller.outcome import Outcome
from controller.queue import WorkQueue
from controller.settings import QueueSettings
from controller.workers import Workers, WorkerStopped

SETTINGS = QueueSettings(workers=2, resync_interval=3600.0, shutdown_grace=3600.0)
POISON = ObjectKey("flux.weave.works", "default", "poison")


class BrokenQueue(WorkQueue[ObjectKey]):
    """A queue with a bug: scheduling the poison key's resync raises."""

    def add_after(self, key: ObjectKey, delay: float) -> None:
        if key == POISON:
            raise RuntimeError("bug in the queue")
        super().add_after(key, delay)


async def in_sync(key: ObjectKey) -> Outcome:
    return Outcome.resync()


async def test_a_worker_that_dies_stops_supervision() -> None:
    queue = BrokenQueue(SETTINGS)
    workers = Workers(queue, in_sync, SETTINGS)
    workers.start()
    supervision = asyncio.create_task(workers.supervise())
    queue.add(POISON)
    with pytest.raises(WorkerStopped, match="worker-") as stopped:
        await asyncio.wait_for(supervision, 30)
    assert isinstance(stopped.value.__cause__, RuntimeError)
    await workers.drain(grace=1.0)


async def test_a_drain_ends_supervision_quietly() -> None:
    workers = Workers(WorkQueue(SETTINGS), in_sync, SETTINGS)
    workers.start()
    supervision = asyncio.create_task(workers.supervise())
    await workers.drain(grace=1.0)
    await asyncio.wait_for(supervision, 30)  # returns: nothing to report


async def test_hurry_cuts_the_grace_period_short() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def endless(key: ObjectKey) -> Outcome:
        started.set()
        try:
            await asyncio.Event().wait()  # a helm that would run for the whole grace period
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    queue: WorkQueue[ObjectKey] = WorkQueue(SETTINGS)
    workers = Workers(queue, endless, SETTINGS)
    workers.start()
    queue.add(POISON)
    await asyncio.wait_for(started.wait(), 30)
    hurry = asyncio.Event()
    drain = asyncio.create_task(workers.drain(hurry=hurry))  # grace: an hour
    await asyncio.sleep(0)  # the drain starts waiting; nothing is cancelled before hurry
    assert not cancelled.is_set()
    hurry.set()
    await asyncio.wait_for(drain, 30)
    assert cancelled.is_set()
