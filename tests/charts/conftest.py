"""Fixtures of the chart tests: a loopback chart repository, a fake clock, a fetcher."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.charts import ChartFetcher
from controller.settings import ChartSettings
from testkit import ChartRepository, FakeClock


@pytest.fixture
def repo_root(tmp_path: Path, charts_dir: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(charts_dir, root)
    return root


@pytest.fixture
async def repo(repo_root: Path) -> AsyncIterator[ChartRepository]:
    """A copy of the test charts (a test may edit it) served on loopback."""
    async with ChartRepository(repo_root) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> ChartSettings:
    return ChartSettings(
        cache_dir=tmp_path / "cache",
        retries=2,
        connect_timeout=5.0,
        read_timeout=5.0,
        repo_refresh_interval=300.0,
    )


@pytest.fixture
async def fetcher(settings: ChartSettings, clock: FakeClock) -> AsyncIterator[ChartFetcher]:
    async with ChartFetcher(settings, clock=clock, retry_base_delay=0.001) as chart_fetcher:
        yield chart_fetcher
