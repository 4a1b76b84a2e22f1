"""Waiting on a condition with a deadline: the one way tests, benchmarks and the demo wait."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

WAIT_LIMIT = 60.0
"""Default deadline: it only bounds a failure, so it is generous for a loaded machine."""
POLL_INTERVAL = 0.02
"""Pause between two checks of a condition that has no event to wake its waiter."""


class Unmet(AssertionError):
    """What a test, benchmark or the demo needed did not happen: a deadline passed, or a
    process it started died."""


@overload
async def wait_for(
    condition: Callable[[], Awaitable[T | None]],
    *,
    what: str,
    within: float = WAIT_LIMIT,
    changed: asyncio.Event | None = None,
) -> T: ...


@overload
async def wait_for(
    condition: Callable[[], T | None],
    *,
    what: str,
    within: float = WAIT_LIMIT,
    changed: asyncio.Event | None = None,
) -> T: ...


async def wait_for(
    condition: Callable[[], object],
    *,
    what: str,
    within: float = WAIT_LIMIT,
    changed: asyncio.Event | None = None,
) -> object:
    """The first result of ``condition`` other than None or False; ``Unmet`` after ``within`` s.

    ``condition`` may be sync or async; an exception it raises ends the wait. It is checked
    again every ``POLL_INTERVAL``, or as soon as ``changed`` is set if given (cleared before
    each check, so a change between check and wait is not missed).
    """
    deadline = asyncio.timeout(within)
    try:
        async with deadline:
            while True:
                if changed is not None:
                    changed.clear()
                result = condition()
                if inspect.isawaitable(result):
                    result = await result
                if result is not None and result is not False:
                    return result
                await _next_check(changed)
    except TimeoutError:
        if not deadline.expired():
            raise  # the condition's own timeout, not ours
        raise Unmet(f"gave up after {within:g}s waiting for {what}") from None


async def _next_check(changed: asyncio.Event | None) -> None:
    if changed is None:
        await asyncio.sleep(POLL_INTERVAL)  # the polling period, not a synchronisation
        return
    # Also a period: a condition may depend on more than what sets ``changed``.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(POLL_INTERVAL):
            await changed.wait()
