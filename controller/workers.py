"""Workers: take a key from the queue, reconcile it, schedule what the Outcome asks for.

A worker never dies of a reconcile failure: an exception is logged (key only,
never object contents) and retried with backoff. A worker that dies anyway (a bug
in the queue or in this module) is not silently gone: ``supervise``, a root task of
the process, raises, and the process stops. ``pause``/``resume`` let leader
election stop new work at once, and ``cancel_in_flight`` the work under way (each
reconcile runs as its own task, so the workers survive it); ``drain`` stops taking
keys, lets in-flight reconciles finish within a grace period (or until told to
hurry), then cancels them.

What an Outcome schedules (resync, retry, requeue) is bulk work in the queue's lanes;
a key handed back untouched returns to the lane it was taken from.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
from typing import Protocol

from controller import metrics
from controller.keys import ObjectKey
from controller.outcome import Next, Outcome
from controller.queue import ShutDown, WorkQueue
from controller.settings import QueueSettings

log = logging.getLogger(__name__)


class WorkerStopped(Exception):
    """A worker ended while nobody asked it to: a bug, the cause is chained."""


class Reconciler(Protocol):
    async def __call__(self, key: ObjectKey, /) -> Outcome: ...


class Workers:
    """``settings.workers`` named tasks feeding keys from ``queue`` into ``reconciler``."""

    def __init__(
        self,
        queue: WorkQueue[ObjectKey],
        reconciler: Reconciler,
        settings: QueueSettings,
        *,
        paused: bool = False,
        name: str = "worker",
        rng: random.Random | None = None,
    ) -> None:
        self._queue = queue
        self._reconciler = reconciler
        self._settings = settings
        self._name = name
        self._rng = rng or random.Random()
        self._running = asyncio.Event()  # set while neither paused nor draining
        if not paused:
            self._running.set()
        self._draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: set[asyncio.Task[None]] = set()  # waiting for a key or for resume
        self._reconciles: set[asyncio.Task[Outcome]] = set()  # one per busy worker

    def start(self) -> None:
        """Start the worker tasks (once)."""
        if self._tasks:
            raise RuntimeError("workers already started")
        for index in range(self._settings.workers):
            task = asyncio.create_task(self._work(), name=f"{self._name}-{index}")
            self._tasks.add(task)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def busy(self) -> int:
        """Workers reconciling a key right now."""
        return len(self._tasks) - len(self._idle)

    def pause(self) -> None:
        """Start no new reconcile until ``resume`` (in-flight ones finish)."""
        self._running.clear()

    def resume(self) -> None:
        if not self._draining:
            self._running.set()

    def cancel_in_flight(self) -> None:
        """Cancel every reconcile under way; their keys go back to the queue untouched.

        The workers stay: paused, they wait for ``resume``; running, they take the next key.
        """
        for reconcile in self._reconciles:
            reconcile.cancel()

    async def supervise(self) -> None:
        """Wait while the workers work; raise WorkerStopped when one ends undrained."""
        running = set(self._tasks)
        while running:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                problem = None if task.cancelled() else task.exception()
                if problem is not None or not self._draining:
                    raise WorkerStopped(f"{task.get_name()} stopped") from problem

    async def drain(
        self, grace: float | None = None, *, hurry: asyncio.Event | None = None
    ) -> None:
        """Stop taking keys; wait up to ``grace`` seconds for in-flight reconciles (or until
        ``hurry`` is set), then cancel them."""
        grace = self._settings.shutdown_grace if grace is None else grace
        self._draining = True
        self._running.clear()
        for task in self._idle:
            task.cancel()  # idle workers hold no key: cancelling them loses nothing
        if not self._tasks:
            return
        await self._finishing(grace, hurry or asyncio.Event())
        for task in self._tasks:
            if not task.done():
                log.warning("cancelling %s: still reconciling", task.get_name())
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _finishing(self, grace: float, hurry: asyncio.Event) -> None:
        """Until every worker ended, ``grace`` seconds passed or ``hurry`` is set."""
        waiters = {
            asyncio.ensure_future(asyncio.wait(self._tasks)),
            asyncio.ensure_future(hurry.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()  # never the workers: cancelling asyncio.wait leaves them be
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _work(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self._draining:
            self._idle.add(me)
            try:
                await self._running.wait()
                key = await self._queue.get()
            except ShutDown:
                return
            finally:
                self._idle.discard(me)
            if not self._running.is_set():
                self._hand_back(key)
                continue
            await self._process(key)

    def _hand_back(self, key: ObjectKey) -> None:
        """Return a key taken just as we were paused; it becomes ready again untouched,
        in the lane it was taken from."""
        self._queue.add_again(key)
        self._queue.done(key)

    async def _process(self, key: ObjectKey) -> None:
        try:
            with metrics.WORKERS_BUSY.track_inprogress():
                outcome = await self._cancellable_reconcile(key)
            if outcome is None:
                self._queue.add_again(key)  # ready again once ``done``, as after a hand-back
            else:
                self._schedule(key, outcome)
        finally:
            self._queue.done(key)

    async def _cancellable_reconcile(self, key: ObjectKey) -> Outcome | None:
        """Reconcile ``key`` in a task of its own; None when ``cancel_in_flight`` stopped it.

        Cancelling this worker (``drain``) cancels the reconcile too and ends the worker.
        """
        me = asyncio.current_task()
        assert me is not None
        reconcile = asyncio.create_task(self._reconcile(key), name=f"{me.get_name()}-reconcile")
        self._reconciles.add(reconcile)
        try:
            return await reconcile
        except asyncio.CancelledError:
            if me.cancelling():
                raise
            log.info("reconcile of %s cancelled in flight; it goes back to the queue", key)
            return None
        finally:
            self._reconciles.discard(reconcile)

    async def _reconcile(self, key: ObjectKey) -> Outcome:
        try:
            return await self._reconciler(key)
        except Exception as error:
            # The traceback without the message: a message might quote object contents.
            trace = "".join(traceback.format_tb(error.__traceback__))
            log.error(
                "reconcile of %s failed with %s; retrying with backoff\n%s",
                key,
                type(error).__name__,
                trace,
            )
            return Outcome.retry()

    def _schedule(self, key: ObjectKey, outcome: Outcome) -> None:
        """What the Outcome asks for, always bulk work: only a change of intent (a wake)
        goes ahead of it."""
        if outcome.next is Next.RESYNC:
            self._queue.forget(key)
            self._queue.add_after(key, self._resync_delay(outcome.after))
        elif outcome.next is Next.RETRY:
            self._queue.add_rate_limited(key)
        elif outcome.next is Next.REQUEUE:
            self._queue.add_after(key, outcome.after or 0.0)
        else:
            self._queue.forget(key)

    def _resync_delay(self, interval: float | None) -> float:
        """The release's own interval (``spec.interval``) or the operator's, jittered."""
        interval = interval or self._settings.resync_interval
        return interval * (1.0 + self._rng.uniform(0.0, self._settings.resync_jitter))
