"""Helpers of the chart tests: index digests and the cached files (the loopback repository
is ``testkit.ChartRepository``, the clock moved by hand ``testkit.FakeClock``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from controller.settings import ChartSettings


def index_digest(charts_dir: Path, chart: str, version: str) -> str:
    return hashlib.sha256((charts_dir / f"{chart}-{version}.tgz").read_bytes()).hexdigest()


def cached_files(settings: ChartSettings) -> Iterator[Path]:
    return settings.cache_dir.iterdir() if settings.cache_dir.exists() else iter(())
