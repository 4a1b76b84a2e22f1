"""Property tests of the work queue, driven synchronously with a fake clock.

A hypothesis state machine runs random interleavings of add (to either lane),
add_after, add_rate_limited, forget, get (``try_get``), done, clock advances and
shutdown against a small reference model, checking that a key is never handed out
while it is processing, that every add made while a key is processing leads to
another processing after ``done``, that nothing is lost or handed out early,
that a key waits in one lane at most, that ready keys leave in FIFO order within their
lane, intent ahead of bulk by the share, and that backoff delays are
min(initial * 2**n, max).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from controller.queue import Lane, WorkQueue
from controller.settings import QueueSettings
from testkit import FakeClock

INITIAL = 0.5
MAXIMUM = 4.0
SHARE = 2
KEYS = st.integers(min_value=0, max_value=4)
DELAYS = st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0, 5.0])
STEPS = st.sampled_from([0.25, 0.5, 1.0, 3.0])
LANES = st.sampled_from(list(Lane))


@dataclass
class Model:
    """What the queue must do, written the simplest way."""

    clock: FakeClock
    ready: dict[Lane, list[int]] = field(default_factory=lambda: {lane: [] for lane in Lane})
    dirty: dict[int, Lane] = field(default_factory=dict)  # the lane it waits in, or will
    processing: set[int] = field(default_factory=set)
    due: dict[int, tuple[float, int]] = field(default_factory=dict)  # key -> (due, order)
    failures: dict[int, int] = field(default_factory=dict)
    order: int = 0
    shut: bool = False
    streak: int = 0  # intent picks in a row while bulk waited too

    def add(self, key: int, lane: Lane = Lane.BULK) -> None:
        if self.shut or self.dirty.get(key) in (lane, Lane.INTENT):
            return
        before = self.dirty.get(key)
        self.dirty[key] = lane
        if key not in self.processing:
            if before is not None:
                self.ready[before].remove(key)
            self.ready[lane].append(key)

    def pick(self) -> int | None:
        intent, bulk = self.ready[Lane.INTENT], self.ready[Lane.BULK]
        if intent and bulk:
            self.streak = self.streak + 1 if self.streak < SHARE else 0
            return intent.pop(0) if self.streak else bulk.pop(0)
        return (intent or bulk).pop(0) if intent or bulk else None

    def finish(self, key: int) -> None:
        self.processing.remove(key)
        if key in self.dirty:
            self.ready[self.dirty[key]].append(key)

    def add_after(self, key: int, delay: float) -> None:
        if self.shut:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self.clock.now + delay
        if key not in self.due or due < self.due[key][0]:
            self.order += 1
            self.due[key] = (due, self.order)

    def promote(self) -> None:
        for key, _ in sorted(self.due.items(), key=lambda item: item[1]):
            if self.due[key][0] <= self.clock.now:
                del self.due[key]
                self.add(key)


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.queue: WorkQueue[int] = WorkQueue(
            QueueSettings(retry_initial=INITIAL, retry_max=MAXIMUM, intent_share=SHARE),
            clock=self.clock,
        )
        self.model = Model(self.clock)
        # Keys added while processing: each must be handed out again after done.
        self.owed_again: set[int] = set()

    @rule(key=KEYS, lane=LANES)
    def add(self, key: int, lane: Lane) -> None:
        if key in self.model.processing and not self.model.shut:
            self.owed_again.add(key)
        self.queue.add(key, lane)
        self.model.add(key, lane)

    @rule(key=KEYS, delay=DELAYS)
    def add_after(self, key: int, delay: float) -> None:
        self.queue.add_after(key, delay)
        self.model.add_after(key, delay)

    @rule(key=KEYS)
    def add_rate_limited(self, key: int) -> None:
        failures = self.model.failures.get(key, 0)
        assert self.queue.retries(key) == failures
        expected = min(INITIAL * 2**failures, MAXIMUM)
        assert self.queue.backoff(failures) == expected
        self.queue.add_rate_limited(key)
        self.model.failures[key] = failures + 1
        self.model.add_after(key, expected)
        assert self.queue.retries(key) == failures + 1

    @rule(key=KEYS)
    def forget(self, key: int) -> None:
        self.queue.forget(key)
        self.model.failures.pop(key, None)
        assert self.queue.retries(key) == 0

    @rule()
    def get(self) -> None:
        self.model.promote()
        key = self.queue.try_get()
        expected = self.model.pick()
        if expected is None:
            assert key is None, "handed out a key that is not ready (early, or never added)"
            return
        assert key == expected, "FIFO within a lane, intent ahead of bulk by the share"
        assert key not in self.model.processing, "a key was handed out while processing"
        self.model.processing.add(key)
        del self.model.dirty[key]
        self.owed_again.discard(key)

    @precondition(lambda self: self.model.processing)
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.model.processing)))
        self.queue.done(key)
        self.model.finish(key)

    @rule(step=STEPS)
    def advance(self, step: float) -> None:
        self.clock.advance(step)

    @rule()
    def shutdown(self) -> None:
        self.queue.shutdown()
        self.model.shut = True
        self.model.due.clear()

    @invariant()
    def sizes_agree(self) -> None:
        assert self.queue.delayed == len(self.model.due)
        for lane in Lane:  # a key waits in one lane at most: the model's lists say so
            assert self.queue.waiting(lane) == len(self.model.ready[lane])
        for key in self.model.processing:
            assert self.queue.is_processing(key)

    def teardown(self) -> None:
        """Nothing lost: finishing all work hands out every owed key, each exactly once."""
        for key in sorted(self.model.processing):
            self.queue.done(key)
            self.model.finish(key)
        self.clock.advance(MAXIMUM * 10)
        self.model.promote()
        expected = {key for ready in self.model.ready.values() for key in ready}
        assert self.owed_again <= expected
        handed_out: list[int] = []
        while (taken := self.queue.try_get()) is not None:
            handed_out.append(taken)
        assert sorted(handed_out) == sorted(expected)
        assert len(handed_out) == len(set(handed_out))


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)


@given(
    initial=st.floats(min_value=0.001, max_value=10.0),
    maximum=st.floats(min_value=0.001, max_value=1000.0),
    failures=st.integers(min_value=0, max_value=5000),
)
def test_backoff_doubles_from_initial_up_to_max(
    initial: float, maximum: float, failures: int
) -> None:
    queue: WorkQueue[str] = WorkQueue(QueueSettings(retry_initial=initial, retry_max=maximum))
    delay = queue.backoff(failures)
    assert delay <= maximum
    assert delay == min(initial * 2.0 ** min(failures, 64), maximum)
    assert queue.backoff(failures + 1) >= delay
