"""``make run`` end to end: the demo script brings every example HelmRelease to Ready on
the in-memory API server, then stops cleanly on Ctrl-C (SIGINT) with exit status 0.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest

from testkit import ROOT, Unmet

pytestmark = pytest.mark.e2e

ALL_READY = re.compile(r"all \d+ releases Ready")
READY_TIMEOUT = 240.0
EXIT_TIMEOUT = 60.0


async def read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str]) -> str:
    """Lines of ``stream`` up to and including the first matching ``pattern``."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            while not seen or not pattern.search(seen[-1]):
                line = (await stream.readline()).decode()
                assert line, "the demo ended early:\n" + "".join(seen)
                seen.append(line)
    except TimeoutError:
        raise Unmet(f"no {pattern.pattern!r} after {READY_TIMEOUT:g}s:\n{''.join(seen)}") from None
    return "".join(seen)


async def test_demo_reaches_ready_and_stops_on_sigint() -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "demo.py"),
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert demo.stdout is not None
    try:
        shown = await read_until(demo.stdout, ALL_READY)
        demo.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(demo.stdout.read(), EXIT_TIMEOUT)).decode()
        code = await asyncio.wait_for(demo.wait(), EXIT_TIMEOUT)
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    assert code == 0, shown + rest
    assert "stopping" in rest, rest
