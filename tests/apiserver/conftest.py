"""Fixtures for tests against the in-memory API server (the server itself, its
kubeconfig, the tool environment and the chart repository come from the top-level
conftest): a runner for the real helm and kubectl binaries and a plain HTTP client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from apitesting import Client, Run

from apiserver import ApiServer
from testkit import Completed, pinned
from testkit import run as run_binary


@pytest.fixture
def run(helm_env: dict[str, str]) -> Run:
    """Run a real binary from the pinned tools (``helm``, ``helm3``, ``kubectl``)."""

    async def run_tool(
        tool: str, *args: str, stdin: str | None = None, limit: float = 60.0
    ) -> Completed:
        return await run_binary((str(pinned(tool)), *args), helm_env, stdin, limit)

    return run_tool


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, apiserver.url)
