"""Workers: keys from the queue go through the reconciler, Outcomes schedule what comes next.

Covers each Outcome (resync, retry, requeue, forget), an exception from the
reconciler (logged with the key only, retried, the worker survives), no key
reconciled by two workers at once under many concurrent adds, a key added
while reconciling is reconciled again, pause/resume, cancelling in-flight
reconciles (the workers survive, the keys come back once resumed), and drain
(in-flight reconciles finish within the grace period, stragglers are cancelled). Lanes:
what an Outcome schedules is bulk work, whatever lane the key came from; a key handed
back untouched (taken as the workers paused, or cancelled in flight) returns to its lane.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from controller.keys import ObjectKey
from controller.outcome import Outcome
from controller.queue import Lane, WorkQueue
from controller.settings import QueueSettings
from controller.workers import Workers
from testkit import wait_for

SETTINGS = QueueSettings(
    workers=4, retry_initial=0.01, retry_max=0.02, resync_interval=0.02, shutdown_grace=5.0
)


def key(name: str) -> ObjectKey:
    return ObjectKey("flux.weave.works", "default", name)


class Observed:
    """A reconciler double a test waits on: ``changed`` is set whenever its state changes."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    async def wait(self, predicate: Callable[[], bool], what: str) -> None:
        await wait_for(predicate, what=what, changed=self.changed)


class Recorder(Observed):
    """Reconciler double: records calls, checks exclusivity, answers with a chosen Outcome."""

    def __init__(self, answer: Callable[[ObjectKey, int], Outcome]) -> None:
        super().__init__()
        self.answer = answer
        self.calls: Counter[ObjectKey] = Counter()
        self.in_flight: set[ObjectKey] = set()
        self.overlaps: list[ObjectKey] = []
        self.gate = asyncio.Event()  # reconciles block on this while it is clear
        self.gate.set()

    async def __call__(self, key: ObjectKey) -> Outcome:
        if key in self.in_flight:
            self.overlaps.append(key)
        self.in_flight.add(key)
        try:
            self.changed.set()
            await self.gate.wait()
            await asyncio.sleep(0)  # yield so that other workers interleave
            self.calls[key] += 1
            return self.answer(key, self.calls[key])
        finally:
            self.in_flight.discard(key)
            self.changed.set()


async def settled(workers: Workers) -> None:
    """Wait until every worker is idle again: the last Outcome has been scheduled."""
    # Going idle has no event of its own: wait_for polls.
    await wait_for(lambda: workers.busy == 0, what="every worker to be idle")


@pytest.fixture
def queue() -> WorkQueue[ObjectKey]:
    return WorkQueue(SETTINGS)


@pytest.fixture
async def running() -> AsyncIterator[list[Workers]]:
    """Workers started by a test; drained at its end."""
    started: list[Workers] = []
    yield started
    for workers in started:
        await workers.drain(grace=1.0)


def start(
    running: list[Workers], queue: WorkQueue[ObjectKey], recorder: Recorder, paused: bool = False
) -> Workers:
    workers = Workers(queue, recorder, SETTINGS, paused=paused)
    workers.start()
    running.append(workers)
    return workers


async def test_resync_comes_back_after_the_interval_with_backoff_reset(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, n: Outcome.retry() if n == 1 else Outcome.resync())
    start(running, queue, recorder)
    queue.add(key("a"))
    await recorder.wait(lambda: recorder.calls[key("a")] >= 4, "four reconciles")
    assert queue.retries(key("a")) == 0


async def test_retry_backs_off_with_growing_retries(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, n: Outcome.retry() if n < 3 else Outcome.forget())
    workers = start(running, queue, recorder)
    queue.add(key("a"))
    await recorder.wait(lambda: recorder.calls[key("a")] == 3, "three reconciles")
    await settled(workers)
    assert queue.retries(key("a")) == 0  # forget reset it


async def test_requeue_comes_back_after_the_given_delay_keeping_backoff(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    answers = {1: Outcome.retry(), 2: Outcome.requeue(0.01), 3: Outcome.forget()}
    recorder = Recorder(lambda _, n: answers[n])
    start(running, queue, recorder)
    queue.add(key("a"))
    await recorder.wait(lambda: recorder.calls[key("a")] == 2, "the retry")
    assert queue.retries(key("a")) == 1
    await recorder.wait(lambda: recorder.calls[key("a")] == 3, "the requeue")


async def test_forget_schedules_nothing(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    workers = start(running, queue, recorder)
    queue.add(key("gone"))
    await recorder.wait(lambda: recorder.calls[key("gone")] == 1, "the reconcile")
    await settled(workers)
    assert queue.delayed == 0
    assert len(queue) == 0
    assert not queue.is_processing(key("gone"))


async def test_an_exception_is_logged_with_the_key_only_and_retried(
    queue: WorkQueue[ObjectKey], running: list[Workers], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2"

    def explode(_: ObjectKey, n: int) -> Outcome:
        if n == 1:
            raise RuntimeError(f"values: password={secret}")
        return Outcome.forget()

    recorder = Recorder(explode)
    start(running, queue, recorder)
    with caplog.at_level(logging.ERROR, logger="controller.workers"):
        queue.add(key("boom"))
        await recorder.wait(lambda: recorder.calls[key("boom")] == 2, "the retry")
    assert "default/boom" in caplog.text
    assert "RuntimeError" in caplog.text
    assert secret not in caplog.text


async def test_no_key_is_reconciled_twice_at_once_and_none_is_lost(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    start(running, queue, recorder)
    names = [f"r{i % 7}" for i in range(200)]
    for index, name in enumerate(names):
        queue.add(key(name))
        if index % 5 == 0:
            await asyncio.sleep(0)  # let workers pick up keys between bursts of adds
    await recorder.wait(lambda: set(recorder.calls) == {key(n) for n in names}, "every key")
    await recorder.wait(lambda: not recorder.in_flight and len(queue) == 0, "the end")
    assert recorder.overlaps == []


async def test_a_key_added_while_reconciling_is_reconciled_again(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    recorder.gate.clear()
    start(running, queue, recorder)
    queue.add(key("a"))
    await recorder.wait(lambda: key("a") in recorder.in_flight, "a in flight")
    queue.add(key("a"))
    queue.add(key("a"))
    recorder.gate.set()
    await recorder.wait(
        lambda: recorder.calls[key("a")] == 2 and not recorder.in_flight, "the second reconcile"
    )
    assert recorder.overlaps == []
    assert len(queue) == 0


async def test_paused_workers_start_nothing_until_resumed(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    workers = start(running, queue, recorder, paused=True)
    queue.add(key("a"))
    # In-process only (no I/O, no timer): one loop iteration runs every worker woken by
    # the add up to its decision, in the order the loop scheduled them.
    await asyncio.sleep(0)
    assert recorder.calls == Counter()
    assert len(queue) == 1
    workers.resume()
    await recorder.wait(lambda: recorder.calls[key("a")] == 1, "a reconciled")
    workers.pause()
    queue.add(key("b"))
    # A worker woken by the add takes the key and hands it back within a few iterations
    # of the loop (in-process, no I/O, no timer): give it those to (wrongly) reconcile it.
    for _ in range(5):
        await asyncio.sleep(0)
    assert recorder.calls[key("b")] == 0
    assert len(queue) == 1
    workers.resume()
    await recorder.wait(lambda: recorder.calls[key("b")] == 1, "b reconciled")


async def test_drain_lets_in_flight_reconciles_finish(queue: WorkQueue[ObjectKey]) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    recorder.gate.clear()
    workers = Workers(queue, recorder, SETTINGS)
    workers.start()
    queue.add(key("a"))
    await recorder.wait(lambda: key("a") in recorder.in_flight, "a in flight")
    drain = asyncio.create_task(workers.drain(grace=60.0))
    await asyncio.sleep(0)  # the drain task, scheduled first, starts draining before we go on
    queue.add(key("b"))  # arrives during drain: not taken
    recorder.gate.set()
    await asyncio.wait_for(drain, 5)
    assert recorder.calls == Counter({key("a"): 1})
    assert not queue.is_processing(key("a"))


async def test_drain_cancels_reconciles_that_outlive_the_grace_period(
    queue: WorkQueue[ObjectKey],
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(_: ObjectKey) -> Outcome:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Outcome.forget()

    workers = Workers(queue, stuck, SETTINGS)
    workers.start()
    queue.add(key("a"))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(workers.drain(grace=0.01), 5)
    assert cancelled.is_set()
    assert not queue.is_processing(key("a"))


class Stuck(Observed):
    """Reconciler whose first call for each key hangs until cancelled; later calls forget."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[ObjectKey] = Counter()
        self.cancelled: list[ObjectKey] = []

    async def __call__(self, key: ObjectKey) -> Outcome:
        self.calls[key] += 1
        self.changed.set()
        if self.calls[key] == 1:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(key)
                self.changed.set()
                raise
        return Outcome.forget()


async def test_cancel_in_flight_stops_reconciles_and_keeps_their_keys_for_later(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    stuck = Stuck()
    workers = Workers(queue, stuck, SETTINGS)
    workers.start()
    running.append(workers)
    queue.add(key("a"))
    queue.add(key("b"))
    await stuck.wait(
        lambda: stuck.calls[key("a")] == 1 and stuck.calls[key("b")] == 1, "both in flight"
    )
    workers.pause()
    workers.cancel_in_flight()
    await stuck.wait(lambda: sorted(stuck.cancelled) == [key("a"), key("b")], "both cancelled")
    await settled(workers)  # back to waiting for resume: none died
    assert len(queue) == 2  # both keys handed back untouched
    assert queue.retries(key("a")) == 0
    workers.resume()
    await stuck.wait(
        lambda: stuck.calls[key("a")] == 2 and stuck.calls[key("b")] == 2, "both again"
    )


async def test_running_workers_take_the_next_key_after_cancel_in_flight(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    stuck = Stuck()
    workers = Workers(queue, stuck, dataclasses.replace(SETTINGS, workers=1))
    workers.start()
    running.append(workers)
    queue.add(key("a"))
    await stuck.wait(lambda: stuck.calls[key("a")] == 1, "a in flight")
    workers.cancel_in_flight()
    await stuck.wait(lambda: stuck.calls[key("a")] == 2, "the one worker to go on")
    assert stuck.cancelled == [key("a")]


async def test_drain_still_cancels_through_a_reconcile_task(
    queue: WorkQueue[ObjectKey],
) -> None:
    stuck = Stuck()
    workers = Workers(queue, stuck, SETTINGS)
    workers.start()
    queue.add(key("a"))
    await stuck.wait(lambda: stuck.calls[key("a")] == 1, "a in flight")
    await asyncio.wait_for(workers.drain(grace=0.01), 5)
    assert stuck.cancelled == [key("a")]
    assert workers.busy == 0
    assert not queue.is_processing(key("a"))


class LaneLog(WorkQueue[ObjectKey]):
    """A queue that records the lane of every add (delayed ones too, as they fall due)."""

    def __init__(self) -> None:
        super().__init__(SETTINGS)
        self.adds: list[tuple[ObjectKey, Lane]] = []

    def add(self, key: ObjectKey, lane: Lane = Lane.BULK) -> None:
        self.adds.append((key, lane))
        super().add(key, lane)


async def test_what_an_outcome_schedules_is_bulk_work(running: list[Workers]) -> None:
    answers = {1: Outcome.requeue(0.0), 2: Outcome.retry(), 3: Outcome.resync()}
    recorder = Recorder(lambda _, n: answers.get(n, Outcome.forget()))
    queue = LaneLog()
    workers = start(running, queue, recorder)
    queue.add(key("a"), Lane.INTENT)
    await recorder.wait(lambda: recorder.calls[key("a")] == 4, "four reconciles")
    await settled(workers)
    assert queue.adds == [(key("a"), Lane.INTENT)] + [(key("a"), Lane.BULK)] * 3


async def test_a_key_taken_as_the_workers_pause_goes_back_to_its_lane(
    running: list[Workers],
) -> None:
    recorder = Recorder(lambda _, __: Outcome.forget())
    queue = LaneLog()
    workers = start(running, queue, recorder)
    queue.add(key("a"))
    await recorder.wait(lambda: recorder.calls[key("a")] == 1, "a reconciled")
    await settled(workers)
    workers.pause()
    queue.add(key("b"), Lane.INTENT)
    # Every worker was waiting for a key: each takes it once, hands it back to its lane
    # and then waits for the workers to resume.
    handed_back = [(key("b"), Lane.INTENT)] * (1 + SETTINGS.workers)
    await wait_for(
        lambda: [add for add in queue.adds if add[0] == key("b")] == handed_back,
        what="every worker to hand the key back",
    )
    assert recorder.calls[key("b")] == 0
    assert queue.waiting(Lane.INTENT) == 1
    assert len(queue) == 1


async def test_keys_cancelled_in_flight_go_back_to_their_lanes(
    queue: WorkQueue[ObjectKey], running: list[Workers]
) -> None:
    stuck = Stuck()
    workers = Workers(queue, stuck, SETTINGS)
    workers.start()
    running.append(workers)
    queue.add(key("edited"), Lane.INTENT)
    queue.add(key("listed"))
    await stuck.wait(lambda: len(stuck.calls) == 2, "both in flight")
    workers.pause()
    workers.cancel_in_flight()
    await stuck.wait(lambda: len(stuck.cancelled) == 2, "both cancelled")
    await settled(workers)
    assert queue.waiting(Lane.INTENT) == 1
    assert queue.waiting(Lane.BULK) == 1
    workers.resume()
    await stuck.wait(
        lambda: stuck.calls[key("edited")] == stuck.calls[key("listed")] == 2, "both again"
    )
