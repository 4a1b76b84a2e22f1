"""Work queue of keys, modelled on client-go's workqueue, with two lanes.

Items are keys, never events: adding a key that is already waiting is a no-op
(dedup), a key handed to a worker is "processing" and is never handed out
again until ``done``; if it was added meanwhile it becomes ready again right
after ``done``.

Ready keys wait in one of two lanes, each FIFO. The intent lane holds keys whose
user changed what they want (a spec, a values source, a release record someone else
rewrote); the bulk lane holds the rest (first sights at list time, resyncs, retries,
requeues, polls). A key waits in one lane at most: an intent add of a key waiting in
bulk moves it to the intent lane, a bulk add of a key waiting in either is a no-op,
and a key added while processing comes back in the most urgent lane it was added to.
The intent lane is served first, but not strictly: while both lanes have ready keys,
at most ``intent_share`` picks in a row go to the intent lane before one goes to
bulk, so bulk work is never starved. An ``intent_share`` of 0 puts every key in the
bulk lane: one FIFO, as before lanes.

Delayed adds wait in a heap ordered by due time; a key keeps only its earliest
due time, so a later ``add_after`` never postpones an earlier one. Due keys are
promoted (into the bulk lane) lazily whenever a key is taken (``try_get``/``get``),
which lets tests drive the queue synchronously with a fake clock. ``add_rate_limited``
delays a key by its own exponential backoff until ``forget`` resets it.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from controller import metrics
from controller.settings import QueueSettings

K = TypeVar("K", bound=Hashable)

# 2**64 times any sane retry_initial is beyond every retry_max; the cap keeps the float finite.
_MAX_BACKOFF_EXPONENT = 64


class Lane(enum.Enum):
    """Where a ready key waits; the value is the ``lane`` label of the queue wait metric."""

    INTENT = "intent"
    """A change of what a user declared: served ahead of bulk (``intent_share``)."""
    BULK = "bulk"
    """Everything else: first sights, resyncs, retries, requeues, polls."""


class ShutDown(Exception):
    """The queue was shut down and holds no more ready keys."""


class WorkQueue(Generic[K]):
    """Deduplicating, delaying, rate-limited queue of keys in two lanes (module docstring)."""

    def __init__(
        self, settings: QueueSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        # Keys that need processing (ready ones and ones re-added while processing),
        # with the lane they wait in, or will wait in once done.
        self._dirty: dict[K, Lane] = {}
        self._processing: dict[K, Lane] = {}  # with the lane each was taken from
        # FIFO per lane; value: when the key became ready in that lane.
        self._ready: dict[Lane, OrderedDict[K, float]] = {lane: OrderedDict() for lane in Lane}
        self._intent_streak = 0  # intent picks in a row while bulk had ready keys too
        self._due: dict[K, float] = {}  # earliest due time of each delayed key
        self._heap: list[tuple[float, int, K]] = []  # may hold stale entries, checked vs _due
        self._sequence = itertools.count()  # FIFO among equal due times; never compares keys
        self._failures: dict[K, int] = {}
        self._shutting_down = False
        self._getters: list[asyncio.Future[None]] = []

    # --- adding -------------------------------------------------------------------------

    def add(self, key: K, lane: Lane = Lane.BULK) -> None:
        """Mark ``key`` as needing processing in ``lane`` (a no-op when it already does
        in that lane or in the intent lane; a key waiting in bulk moves to intent)."""
        if self._shutting_down:
            return
        if self._settings.intent_share == 0:
            lane = Lane.BULK
        waiting = self._dirty.get(key)
        if waiting is not None and (waiting is lane or waiting is Lane.INTENT):
            return
        self._dirty[key] = lane
        if waiting is None:
            metrics.QUEUE_ADDS.inc()
        if key in self._processing:
            return
        if waiting is not None:
            del self._ready[waiting][key]  # it moves: its wait in intent starts now
        self._make_ready(key, lane)

    def add_again(self, key: K) -> None:
        """Add ``key``, being processed, again in the lane it was taken from (a key
        handed back untouched); it is ready again once ``done``."""
        self.add(key, self._processing.get(key, Lane.BULK))

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` to bulk once ``delay`` seconds have passed (an earlier pending time
        wins)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        due = self._clock() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._sequence), key))
        if self._heap[0][0] == due:
            self._wake_all()  # waiting getters must shorten their timeout

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after its backoff, which doubles with every call until ``forget``."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        metrics.QUEUE_RETRIES.inc()
        self.add_after(key, self.backoff(failures))

    def backoff(self, failures: int) -> float:
        """Delay after ``failures`` earlier failures: retry_initial doubling up to retry_max."""
        exponent = min(failures, _MAX_BACKOFF_EXPONENT)
        return min(self._settings.retry_initial * 2.0**exponent, self._settings.retry_max)

    def forget(self, key: K) -> None:
        """Reset the backoff of ``key`` (pending delayed adds stay)."""
        self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        """How many rate-limited adds ``key`` had since its last ``forget``."""
        return self._failures.get(key, 0)

    # --- taking -------------------------------------------------------------------------

    def try_get(self) -> K | None:
        """The next ready key (now processing), or None when none is ready right now."""
        self._promote_due()
        lane = self._next_lane()
        if lane is None:
            return None
        key, ready_since = self._ready[lane].popitem(last=False)
        metrics.queue_depth(len(self))
        metrics.queue_wait(lane.value, max(0.0, self._clock() - ready_since))
        del self._dirty[key]
        self._processing[key] = lane
        return key

    async def get(self) -> K:
        """Wait for the next ready key; raises ShutDown once shut down and drained.

        Cancellation-safe: a cancelled ``get`` takes no key.
        """
        loop = asyncio.get_running_loop()
        while True:
            key = self.try_get()
            if key is not None:
                return key
            if self._shutting_down:
                raise ShutDown
            wakeup = loop.create_future()
            self._getters.append(wakeup)
            try:
                async with asyncio.timeout(self._until_next_due()):
                    await wakeup
            except TimeoutError:
                pass  # a delayed key is due
            except asyncio.CancelledError:
                if wakeup.done() and not wakeup.cancelled():
                    self._wake_one()  # pass the wakeup we were given on to another getter
                raise
            finally:
                if wakeup in self._getters:
                    self._getters.remove(wakeup)

    def done(self, key: K) -> None:
        """Finish processing ``key``; it becomes ready again if it was added meanwhile."""
        self._processing.pop(key, None)
        lane = self._dirty.get(key)
        if lane is not None:
            self._make_ready(key, lane)

    # --- state --------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys ready to be picked up, in both lanes (delayed and processing keys not counted)."""
        return sum(len(ready) for ready in self._ready.values())

    def waiting(self, lane: Lane) -> int:
        """Keys ready to be picked up in ``lane``."""
        return len(self._ready[lane])

    @property
    def delayed(self) -> int:
        """Keys waiting for their due time."""
        return len(self._due)

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def shutdown(self) -> None:
        """Refuse new keys and drop delayed ones; ``get`` hands out what is ready, then ShutDown."""
        self._shutting_down = True
        self._due.clear()
        self._heap.clear()
        self._wake_all()

    # --- internals ----------------------------------------------------------------------

    def _next_lane(self) -> Lane | None:
        """The lane of the next pick: intent first, but bulk at least once in every
        ``intent_share + 1`` picks while both have ready keys."""
        intent, bulk = self._ready[Lane.INTENT], self._ready[Lane.BULK]
        if not intent:
            return Lane.BULK if bulk else None
        if not bulk:
            return Lane.INTENT
        if self._intent_streak < self._settings.intent_share:
            self._intent_streak += 1
            return Lane.INTENT
        self._intent_streak = 0
        return Lane.BULK

    def _make_ready(self, key: K, lane: Lane) -> None:
        self._ready[lane][key] = self._clock()
        metrics.queue_depth(len(self))
        self._wake_one()

    def _promote_due(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == due:
                del self._due[key]
                self.add(key)

    def _until_next_due(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: the key got an earlier due time or was promoted
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self._clock())

    def _wake_one(self) -> None:
        while self._getters:
            wakeup = self._getters.pop(0)
            if not wakeup.done():
                wakeup.set_result(None)
                return

    def _wake_all(self) -> None:
        getters, self._getters = self._getters, []
        for wakeup in getters:
            if not wakeup.done():
                wakeup.set_result(None)
