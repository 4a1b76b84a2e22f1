"""The on-disk cache across restarts: a file left by an earlier run is reused only when its
content checks out, and leftovers of interrupted downloads are cleaned up. The mtime that
carries the LRU order to the next run is refreshed at most once per interval (however many
releases are handed the file at once), and a file that vanished is noticed at that
refresh."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from controller.charts import ChartFetcher, FetchedChart
from controller.charts.cache import TOUCH_INTERVAL, ChartCache
from controller.settings import ChartSettings
from testkit import ChartRepository, FakeClock


async def test_corrupted_cache_file_is_downloaded_again(
    repo: ChartRepository, settings: ChartSettings
) -> None:
    async with ChartFetcher(settings) as first_run:
        chart = await first_run.fetch(repo.url, "podinfo", "6.7.1")
    assert isinstance(chart, FetchedChart)
    original = chart.path.read_bytes()
    chart.path.write_bytes(b"bit rot")

    async with ChartFetcher(settings) as second_run:
        again = await second_run.fetch(repo.url, "podinfo", "6.7.1")

    assert again == chart
    assert again.path.read_bytes() == original
    assert repo.count("/podinfo-6.7.1.tgz") == 2


async def test_stale_temp_files_are_removed(repo: ChartRepository, settings: ChartSettings) -> None:
    settings.cache_dir.mkdir(parents=True)
    stale = settings.cache_dir / ".download-stale.tmp"
    fresh = settings.cache_dir / ".download-fresh.tmp"
    unrelated = settings.cache_dir / "notes.txt"
    for path in (stale, fresh, unrelated):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    async with ChartFetcher(settings) as fetcher:
        assert isinstance(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), FetchedChart)

    assert not stale.exists()
    assert fresh.exists()  # may belong to a download in flight
    assert unrelated.exists()


async def test_a_cached_file_is_touched_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = ChartCache(tmp_path / "cache", 1 << 20, clock)
    await cache.prepare()
    temp = tmp_path / "download"
    temp.write_bytes(b"chart")
    digest = "0" * 64
    added = await cache.add(temp, digest, 5)
    os.utime(added.path, (1.0, 1.0))

    assert await cache.checkout(digest) == added  # first hand-out: the mtime is refreshed
    assert added.path.stat().st_mtime > 1.0
    os.utime(added.path, (1.0, 1.0))
    clock.advance(TOUCH_INTERVAL / 2)
    assert await cache.checkout(digest) == added  # within the interval: left alone
    assert added.path.stat().st_mtime == 1.0
    clock.advance(TOUCH_INTERVAL)
    assert await cache.checkout(digest) == added
    assert added.path.stat().st_mtime > 1.0

    added.path.unlink()  # noticed at the next refresh
    clock.advance(TOUCH_INTERVAL)
    assert await cache.checkout(digest) is None


async def test_releases_handed_a_file_at_once_touch_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ChartCache(tmp_path / "cache", 1 << 20, FakeClock())
    await cache.prepare()
    temp = tmp_path / "download"
    temp.write_bytes(b"chart")
    added = await cache.add(temp, "0" * 64, 5)
    touched: list[object] = []
    touch = os.utime

    def counted(path: Path, *args: Any) -> None:
        touched.append(path)
        touch(path, *args)

    monkeypatch.setattr(os, "utime", counted)
    handed = await asyncio.gather(*(cache.checkout("0" * 64) for _ in range(50)))
    assert handed == [added] * 50
    assert touched == [added.path]
