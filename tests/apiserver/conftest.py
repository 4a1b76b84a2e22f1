"""Fixtures for tests against the in-memory API server: the server, a kubeconfig, an
isolated helm/kubectl environment, the test chart repository over HTTP, and a runner
for the real helm and kubectl binaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.testing.apiserver import ApiServer, serve_directory

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
CHARTS = ROOT / "tests" / "data" / "charts"


@dataclass(frozen=True)
class Completed:
    """A finished helm or kubectl run."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def check(self) -> Completed:
        assert self.code == 0, f"{' '.join(self.argv)} failed ({self.code}):\n{self.stderr}"
        return self

    def json(self) -> Any:
        return json.loads(self.stdout)


Run = Callable[..., Coroutine[Any, Any, Completed]]


@pytest.fixture
async def apiserver() -> AsyncIterator[ApiServer]:
    async with ApiServer(simulate=True, simulate_delay=0.05) as api:
        yield api


@pytest.fixture
async def kubeconfig(apiserver: ApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    await apiserver.write_kubeconfig(path)
    return path


@pytest.fixture
def helm_env(kubeconfig: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for helm/kubectl: the server's kubeconfig and fresh caches and HOME."""
    home = tmp_path / "home"
    env = {
        "PATH": f"{TOOLS}:/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kubecache"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
    for name in ("HOME", "KUBECACHEDIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return env


@pytest.fixture
async def chart_repo() -> AsyncIterator[str]:
    async with serve_directory(CHARTS) as url:
        yield url


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


@dataclass(frozen=True)
class Reply:
    """A JSON reply from the server."""

    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """Plain HTTP against the server, for tests of exact request/response semantics."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method,
            self.base + path,
            data=data,
            headers=headers,
            params=params,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response:
            text = await response.text()
            return Reply(
                response.status, json.loads(text) if text else None, dict(response.headers)
            )

    async def get(self, path: str, **params: str) -> Reply:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any, **params: str) -> Reply:
        return await self.request("POST", path, body, params=params or None)

    async def put(self, path: str, body: Any) -> Reply:
        return await self.request("PUT", path, body)

    async def patch(self, path: str, body: Any, content_type: str, **params: str) -> Reply:
        return await self.request(
            "PATCH", path, body, content_type=content_type, params=params or None
        )

    async def delete(self, path: str, body: Any = None, **params: str) -> Reply:
        return await self.request("DELETE", path, body, params=params or None)

    @contextlib.asynccontextmanager
    async def watch(self, path: str, **params: str) -> AsyncIterator[WatchStream]:
        """Open a watch; the stream yields decoded events."""
        async with self.session.get(
            self.base + path,
            params={"watch": "true", **params},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=10),
        ) as response:
            assert response.status == 200, await response.text()
            yield WatchStream(response)


class WatchStream:
    """Events of one watch response, read with a deadline."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, within: float = 5.0) -> dict[str, Any] | None:
        """The next event, or None at the end of the stream."""
        line = await asyncio.wait_for(self.response.content.readline(), within)
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        return event

    async def take(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, f"stream ended after {events}"
            events.append(event)
        return events

    async def rest(self, within: float = 5.0) -> list[dict[str, Any]]:
        """Every event until the server ends the stream."""
        events: list[dict[str, Any]] = []
        while (event := await self.next(within)) is not None:
            events.append(event)
        return events


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, apiserver.url)
