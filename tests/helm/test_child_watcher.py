"""helm processes are waited for by the event loop through Linux's pidfd (Python 3.12's
default), not by a thread per child process as Python 3.11 does on its own."""

from __future__ import annotations

import asyncio
import sys

from controller.helm import prefer_pidfd_child_watcher


async def test_child_processes_are_waited_for_through_pidfd() -> None:
    before_312 = sys.version_info < (3, 12)  # 3.12 waits through pidfd by default
    previous = asyncio.get_child_watcher() if before_312 else None
    try:
        prefer_pidfd_child_watcher()
        if before_312:
            assert isinstance(asyncio.get_child_watcher(), asyncio.PidfdChildWatcher)
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        assert await process.wait() == 0
    finally:
        if previous is not None:
            asyncio.set_child_watcher(previous)
