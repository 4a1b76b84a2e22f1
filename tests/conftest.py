"""Fixtures shared by every test: a test fails when it leaks asyncio tasks.

Warnings are errors for the whole suite (pyproject's filterwarnings), so an
unclosed session or a never-awaited coroutine fails the test that caused it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHARTS_DIR = ROOT / "tests" / "data" / "charts"


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    for _ in range(20):  # let tasks that were just cancelled run their cleanup
        leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
        if not leaked:
            return
        await asyncio.sleep(0)
    names = ", ".join(sorted(t.get_name() + f" ({t.get_coro()!r})" for t in leaked))
    for task in leaked:
        task.cancel()
    pytest.fail(f"test leaked running asyncio tasks: {names}")


@pytest.fixture
def charts_dir() -> Path:
    """The test chart repository (index.yaml + packaged charts)."""
    return CHARTS_DIR
