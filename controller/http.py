"""Operational HTTP endpoints: /healthz, /readyz and /metrics.

/healthz answers 200 whenever the event loop runs (answering at all is the
proof); /readyz asks a readiness function (caches synced, ...) and answers 503
with its reason when not ready; /metrics is the Prometheus text format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import prometheus_client
from aiohttp import web

from controller.kube.cache import Cache

Readiness = Callable[[], tuple[bool, str]]

_READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
SHUTDOWN_TIMEOUT = 2.0


def make_app(readiness: Readiness) -> web.Application:
    app = web.Application()
    app[_READINESS] = readiness
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


def caches_synced(caches: Mapping[str, Cache]) -> Readiness:
    """Readiness: every cache has completed its first list (named in the reason if not)."""

    def readiness() -> tuple[bool, str]:
        waiting = sorted(name for name, cache in caches.items() if not cache.synced.is_set())
        if waiting:
            return False, "caches not synced: " + ", ".join(waiting)
        return True, "ok"

    return readiness


@asynccontextmanager
async def serve(app: web.Application, listen: str) -> AsyncIterator[str]:
    """Serve ``app`` on HOST:PORT (port 0 picks a free one); yields the bound HOST:PORT."""
    host, port = parse_listen(listen)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield _bound(runner, host)
    finally:
        await runner.cleanup()


def parse_listen(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" or "[V6]:PORT" -> (host, port); raises ValueError on anything else."""
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"listen address must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _bound(runner: web.AppRunner, host: str) -> str:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    raise RuntimeError("the HTTP server is not listening on a TCP port")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    ready, reason = request.app[_READINESS]()
    return web.Response(status=200 if ready else 503, text=reason + "\n")


async def _metrics(request: web.Request) -> web.Response:
    # Thousands of per-release series take a while to render: not on the event loop.
    body = await asyncio.to_thread(prometheus_client.generate_latest)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})
