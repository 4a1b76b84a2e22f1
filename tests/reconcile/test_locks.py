"""Release locks: holders of the same Helm release exclude each other, others do not
wait, and an entry is removed once nobody holds or waits for it."""

from __future__ import annotations

import asyncio

import pytest

from controller.keys import ReleaseKey
from controller.reconcile.locks import ReleaseLocks


async def test_release_lock_excludes_a_second_holder_of_the_same_release() -> None:
    locks = ReleaseLocks()
    release = ReleaseKey("default", "podinfo")
    other = ReleaseKey("default", "other")
    order: list[str] = []
    entered = asyncio.Event()

    async def second() -> None:
        async with locks.hold(release):
            order.append("second")

    async with locks.hold(release):
        waiter = asyncio.create_task(second())
        async with locks.hold(other):  # a different release is not blocked
            entered.set()
        await asyncio.sleep(0)
        assert order == []  # the second holder still waits
        order.append("first")
    await asyncio.wait_for(waiter, 5)
    assert entered.is_set()
    assert order == ["first", "second"]
    assert len(locks) == 0


async def test_release_lock_entry_is_removed_when_a_waiter_is_cancelled() -> None:
    locks = ReleaseLocks()
    release = ReleaseKey("default", "podinfo")

    async def wait_for_lock() -> None:
        async with locks.hold(release):
            pytest.fail("the lock was never released, so this must not run")

    async with locks.hold(release):
        waiter = asyncio.create_task(wait_for_lock())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert len(locks) == 1
    assert len(locks) == 0
