"""Share one in-flight computation between concurrent callers asking for the same key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)


class SingleFlight(Generic[K, V]):
    """``run(key, work)`` starts ``work()`` unless a run for ``key`` is in flight, and
    returns its result. The work runs in its own task: a caller that is cancelled stops
    waiting without cancelling the others' work. ``close()`` cancels what is left."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: dict[K, asyncio.Task[V]] = {}

    def __contains__(self, key: K) -> bool:
        """Whether a run for ``key`` is in flight."""
        return key in self._tasks

    async def run(self, key: K, work: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(work(), name=f"{self._name}:{key}")
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def when_done(self, key: K, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the run for ``key`` ends (at once when none is in flight):
        for a caller that stopped waiting but wants to know."""
        task = self._tasks.get(key)
        if task is None:
            callback()
        else:
            task.add_done_callback(lambda _: callback())

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so that a failure nobody waits for any more is still logged.
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
