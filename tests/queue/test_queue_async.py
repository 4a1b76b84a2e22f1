"""The work queue on a real event loop, and the per-release locks.

Covers: ``get`` waits for a ready key and for a delayed key's due time, an
earlier ``add_after`` wakes a waiting getter sooner, a cancelled ``get`` takes
no key, shutdown hands out what is ready and then raises ShutDown.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.queue import ShutDown, WorkQueue
from controller.settings import QueueSettings


def make_queue() -> WorkQueue[str]:
    return WorkQueue(QueueSettings(retry_initial=0.01, retry_max=0.05))


async def test_get_waits_for_an_add() -> None:
    queue = make_queue()
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # let the getter start waiting: it must not return anything yet
    assert not getter.done()
    queue.add("a")
    assert await asyncio.wait_for(getter, 5) == "a"
    assert queue.is_processing("a")


async def test_get_returns_a_delayed_key_once_due() -> None:
    queue = make_queue()
    queue.add_after("late", 0.05)
    assert queue.try_get() is None
    assert await asyncio.wait_for(queue.get(), 5) == "late"


async def test_an_earlier_add_after_wakes_a_waiting_getter() -> None:
    queue = make_queue()
    queue.add_after("slow", 3600)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # the getter, scheduled first, runs up to its wait before we go on
    queue.add_after("fast", 0.01)
    assert await asyncio.wait_for(getter, 5) == "fast"
    assert queue.delayed == 1


async def test_a_later_add_after_never_postpones_an_earlier_one() -> None:
    queue = make_queue()
    queue.add_after("k", 0.01)
    queue.add_after("k", 3600)
    assert await asyncio.wait_for(queue.get(), 5) == "k"
    assert queue.delayed == 0


async def test_rate_limited_key_comes_back_after_its_backoff() -> None:
    queue = make_queue()
    queue.add_rate_limited("k")
    queue.add_rate_limited("k")
    assert queue.retries("k") == 2
    assert await asyncio.wait_for(queue.get(), 5) == "k"
    queue.forget("k")
    assert queue.retries("k") == 0


async def test_a_cancelled_get_takes_no_key() -> None:
    queue = make_queue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # both getters, scheduled first, run up to their waits meanwhile
    queue.add("a")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs: the wakeup passes on
    assert await asyncio.wait_for(second, 5) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_shutdown_hands_out_ready_keys_then_raises() -> None:
    queue = make_queue()
    queue.add("a")
    queue.add_after("b", 3600)
    queue.shutdown()
    queue.add("c")
    assert await queue.get() == "a"
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_wakes_waiting_getters() -> None:
    queue = make_queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)  # the getters, scheduled first, run up to their waits meanwhile
    queue.shutdown()
    results = await asyncio.wait_for(asyncio.gather(*getters, return_exceptions=True), 5)
    assert all(isinstance(result, ShutDown) for result in results)


async def test_a_key_added_while_processing_comes_back_after_done() -> None:
    queue = make_queue()
    queue.add("k")
    assert await queue.get() == "k"
    queue.add("k")
    queue.add("k")
    assert queue.try_get() is None
    queue.done("k")
    assert queue.try_get() == "k"
    queue.done("k")
    assert queue.try_get() is None


async def test_ready_keys_leave_in_fifo_order_without_duplicates() -> None:
    queue = make_queue()
    for key in ["c", "a", "c", "b", "a"]:
        queue.add(key)
    assert len(queue) == 3
    assert [queue.try_get() for _ in range(4)] == ["c", "a", "b", None]
