"""A real Helm repository served by aiohttp on loopback, for the chart tests.

The server serves a directory, records every request (and the client port it came from),
answers conditional GETs (ETag and/or Last-Modified), can demand basic auth or TLS, lets a
test replace the answer for one path to inject faults, and tells which client connections
are open.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import yaml
from aiohttp import web

from controller.settings import ChartSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it, and the status it answered."""

    path: str
    authorization: str | None
    if_none_match: str | None
    if_modified_since: str | None
    status: int
    client_port: int


class RepoServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: list[Seen] = []
        self.faults: dict[str, Handler] = {}
        self.credentials: tuple[str, str] | None = None
        self.public_paths: set[str] = set()
        self.etags = True
        self.last_modified = True
        self.ssl_context: ssl.SSLContext | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def count(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    def statuses(self, path: str) -> list[int]:
        return [s.status for s in self.seen if s.path == path]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def open_client_ports(self) -> set[int]:
        """The client ports of the connections the server holds open."""
        assert self._runner is not None
        assert self._runner.server is not None
        return {
            client_port(handler.transport)
            for handler in self._runner.server.connections
            if handler.transport is not None
        }

    async def wait_closed(self, port: int, within: float = 10.0) -> None:
        """Wait until the client closed its connection from ``port``; fails after ``within`` s."""
        try:
            async with asyncio.timeout(within):
                # The server has no event for a lost connection: poll, bounded above.
                while port in self.open_client_ports():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(
                f"connection from port {port} still open after {within}s"
            ) from None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        self.seen.append(
            Seen(
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("If-None-Match"),
                request.headers.get("If-Modified-Since"),
                response.status,
                client_port(request.transport),
            )
        )
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if self.credentials and request.path not in self.public_paths:
            user, password = self.credentials
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if request.headers.get("Authorization") != expected:
                return web.Response(status=401)
        fault = self.faults.get(request.path)
        if fault is not None:
            return await fault(request)
        path = self.root / request.path.lstrip("/")
        if not path.is_file():
            return web.Response(status=404)
        data = await asyncio.to_thread(path.read_bytes)
        headers = {}
        if self.etags:
            etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
            headers["ETag"] = etag
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers=headers)
        if self.last_modified:
            mtime = path.stat().st_mtime
            headers["Last-Modified"] = formatdate(mtime, usegmt=True)
            since = request.headers.get("If-Modified-Since")
            if since and int(mtime) <= parsedate_to_datetime(since).timestamp():
                return web.Response(status=304, headers=headers)
        return web.Response(body=data, headers=headers)

    def index(self) -> dict[str, object]:
        loaded: dict[str, object] = yaml.safe_load((self.root / "index.yaml").read_text())
        return loaded

    def write_index(self, index: dict[str, object]) -> None:
        (self.root / "index.yaml").write_text(yaml.safe_dump(index))

    def entries(self, index: dict[str, object], chart: str) -> list[dict[str, object]]:
        charts = index["entries"]
        assert isinstance(charts, dict)
        found: list[dict[str, object]] = charts[chart]
        return found


def client_port(transport: asyncio.BaseTransport | None) -> int:
    peer = transport.get_extra_info("peername") if transport is not None else None
    return int(peer[1]) if peer else 0


class FakeClock:
    """A monotonic clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def index_digest(charts_dir: Path, chart: str, version: str) -> str:
    return hashlib.sha256((charts_dir / f"{chart}-{version}.tgz").read_bytes()).hexdigest()


def cached_files(settings: ChartSettings) -> Iterator[Path]:
    return settings.cache_dir.iterdir() if settings.cache_dir.exists() else iter(())
