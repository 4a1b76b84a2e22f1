"""Work queue of keys, modelled on client-go's workqueue.

Items are keys, never events: adding a key that is already waiting is a no-op
(dedup), a key handed to a worker is "processing" and is never handed out
again until ``done``; if it was added meanwhile it becomes ready again right
after ``done``. Ready keys leave in FIFO order.

Delayed adds wait in a heap ordered by due time; a key keeps only its earliest
due time, so a later ``add_after`` never postpones an earlier one. Due keys are
promoted lazily whenever a key is taken (``try_get``/``get``), which lets tests
drive the queue synchronously with a fake clock. ``add_rate_limited`` delays a
key by its own exponential backoff until ``forget`` resets it.
"""

from __future__ import annotations

import asyncio
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


class ShutDown(Exception):
    """The queue was shut down and holds no more ready keys."""


class WorkQueue(Generic[K]):
    """Deduplicating, delaying, rate-limited queue of keys (see the module docstring)."""

    def __init__(
        self, settings: QueueSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        # Keys that need processing: ready ones and ones re-added while processing.
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._ready: OrderedDict[K, float] = OrderedDict()  # FIFO; value: when it became ready
        self._due: dict[K, float] = {}  # earliest due time of each delayed key
        self._heap: list[tuple[float, int, K]] = []  # may hold stale entries, checked vs _due
        self._sequence = itertools.count()  # FIFO among equal due times; never compares keys
        self._failures: dict[K, int] = {}
        self._shutting_down = False
        self._getters: list[asyncio.Future[None]] = []

    # --- adding -------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Mark ``key`` as needing processing (a no-op when it already does)."""
        if self._shutting_down or key in self._dirty:
            return
        metrics.QUEUE_ADDS.inc()
        self._dirty.add(key)
        if key not in self._processing:
            self._make_ready(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (an earlier pending time wins)."""
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
        if not self._ready:
            return None
        key, ready_since = self._ready.popitem(last=False)
        metrics.queue_depth(len(self._ready))
        metrics.QUEUE_WAIT.observe(max(0.0, self._clock() - ready_since))
        self._dirty.discard(key)
        self._processing.add(key)
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
        self._processing.discard(key)
        if key in self._dirty:
            self._make_ready(key)

    # --- state --------------------------------------------------------------------------

    def __len__(self) -> int:
        """Keys ready to be picked up (delayed and processing keys not counted)."""
        return len(self._ready)

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

    def _make_ready(self, key: K) -> None:
        self._ready[key] = self._clock()
        metrics.queue_depth(len(self._ready))
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
