"""Fixtures of the values-source tests: a resolver on the in-memory API server, and a
folder of values files served over HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.settings import SourceSettings
from controller.sources import ValuesResolver
from testkit import ChartRepository


@pytest.fixture
def source_settings() -> SourceSettings:
    return SourceSettings(timeout=10.0)


@pytest.fixture
async def resolver(
    client: KubeClient, source_settings: SourceSettings
) -> AsyncIterator[ValuesResolver]:
    async with ValuesResolver(client, source_settings) as values_resolver:
        yield values_resolver


@pytest.fixture
def values_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "values"
    folder.mkdir()
    return folder


@pytest.fixture
async def values_server(values_dir: Path) -> AsyncIterator[ChartRepository]:
    """``values_dir`` served on loopback (records requests, answers conditional GETs)."""
    async with ChartRepository(values_dir) as server:
        yield server
