"""Fixtures for tests against the in-memory API server (the server itself, its
kubeconfig, the tool environment and the chart repository come from the top-level
conftest): a runner for the real helm and kubectl binaries and a plain HTTP client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from apitesting import TOOLS, Client, Completed, Run

from controller.testing.apiserver import ApiServer


@pytest.fixture
def run(helm_env: dict[str, str]) -> Run:
    """Run a real binary from the pinned tools (``helm``, ``helm3``, ``kubectl``)."""

    async def run_tool(
        tool: str, *args: str, stdin: str | None = None, limit: float = 60.0
    ) -> Completed:
        argv = (str(TOOLS / tool), *args)
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=helm_env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(
                process.communicate(None if stdin is None else stdin.encode()), limit
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode is not None
        return Completed(argv, process.returncode, stdout.decode(), stderr.decode())

    return run_tool


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, apiserver.url)
