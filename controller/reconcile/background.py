"""Running one piece of work beside another, without ever letting it outlive its scope."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

T = TypeVar("T")


@contextlib.asynccontextmanager
async def in_background(work: Awaitable[T]) -> AsyncIterator[asyncio.Future[T]]:
    """``work`` running as a task while the body runs (which awaits it for its result);
    a future is taken as it is (one already done costs nothing).

    A body that ends before awaiting it (an error, a cancellation) cancels it and waits
    for it to end: it never outlives the body, and the body's error is what is raised.
    """
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the body saw it already, or failed first
