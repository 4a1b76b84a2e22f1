"""A folder served over HTTP(S) on loopback as a Helm repository (index.yaml + charts).

Helm, the operator and the chart fetcher download from it. It records every request
(and the client port it came from) with the status it answered; answers conditional
GETs (ETag and/or Last-Modified, each can be turned off); can demand basic auth (some
paths may stay public) or serve TLS; lets a caller replace the answer for one path to
inject a fault; and tells which client connections are open.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from testkit.paths import CHARTS_DIR
from testkit.service import LoopbackSite
from testkit.waiting import wait_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""Seconds open connections get to finish when the server stops."""


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it, and the status it answered."""

    path: str
    authorization: str | None
    if_none_match: str | None
    if_modified_since: str | None
    status: int
    client_port: int


class ChartRepository(LoopbackSite):
    """``async with ChartRepository(folder) as repo:`` serves ``folder`` at ``repo.url``.

    ``host`` is the address to listen on (``0.0.0.0`` to be reachable from a cluster);
    ``ssl_context`` serves HTTPS. ``faults[path]`` answers ``path`` instead of the file;
    ``credentials`` (user, password) demands basic auth except for ``public_paths``.
    """

    def __init__(
        self,
        root: Path = CHARTS_DIR,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self.root = root
        self.host = host
        self.ssl_context = ssl_context
        self.seen: list[Seen] = []
        self.faults: dict[str, Handler] = {}
        self.credentials: tuple[str, str] | None = None
        self.public_paths: set[str] = set()
        self.etags = True
        self.last_modified = True

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        scheme = "https" if self.ssl_context else "http"
        host = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        return f"{scheme}://{host}:{self.port}"

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        await self.listen(app, self.host, self.ssl_context)

    # --- what it saw --------------------------------------------------------------------------

    def count(self, path: str, status: int | None = None) -> int:
        """Requests for ``path`` (answered with ``status``, if given)."""
        return sum(1 for s in self.seen if s.path == path and status in (None, s.status))

    def statuses(self, path: str) -> list[int]:
        return [s.status for s in self.seen if s.path == path]

    def open_client_ports(self) -> set[int]:
        """The client ports of the connections the server holds open."""
        assert self._runner is not None
        assert self._runner.server is not None
        return {
            client_port(handler.transport)
            for handler in self._runner.server.connections
            if handler.transport is not None
        }

    async def wait_closed(self, port: int) -> None:
        """Wait until the client closed its connection from ``port``."""
        # The server has no event for a lost connection: wait_for polls.
        await wait_for(
            lambda: port not in self.open_client_ports(),
            what=f"the client to close its connection from port {port}",
        )

    # --- the index ---------------------------------------------------------------------------

    def index(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((self.root / "index.yaml").read_text())
        return loaded

    def write_index(self, index: dict[str, Any]) -> None:
        (self.root / "index.yaml").write_text(yaml.safe_dump(index))

    @staticmethod
    def entries(index: dict[str, Any], chart: str) -> list[dict[str, Any]]:
        """The versions of ``chart`` in ``index`` (the list itself: edit it in place)."""
        found: list[dict[str, Any]] = index["entries"][chart]
        return found

    # --- serving -------------------------------------------------------------------------------

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
        if not self._authorized(request):
            return web.Response(status=401)
        fault = self.faults.get(request.path)
        if fault is not None:
            return await fault(request)
        path = (self.root / request.path.lstrip("/")).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
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

    def _authorized(self, request: web.Request) -> bool:
        if self.credentials is None or request.path in self.public_paths:
            return True
        user, password = self.credentials
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return request.headers.get("Authorization") == expected


def client_port(transport: asyncio.BaseTransport | None) -> int:
    peer = transport.get_extra_info("peername") if transport is not None else None
    return int(peer[1]) if peer else 0
