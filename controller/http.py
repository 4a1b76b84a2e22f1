"""Operational HTTP endpoints: /healthz, /readyz and /metrics.

/healthz answers 200 whenever the event loop runs (answering at all is the
proof); /readyz asks a readiness function (caches synced, ...) and answers 503
with its reason when not ready; /metrics is the Prometheus text format.

The listen address is HOST:PORT, [V6]:PORT, or :PORT for every interface (IPv4 and
IPv6, as Go's ``:3030`` that helm-operator listened on). An address that cannot be
listened on (a port in use, say) raises ``ListenError``, whose message says what to do.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import prometheus_client
from aiohttp import web

from controller import metrics
from controller.kube.cache import Cache

Readiness = Callable[[], tuple[bool, str]]

_READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
SHUTDOWN_TIMEOUT = 2.0


class ListenError(Exception):
    """The HTTP server cannot listen on the address it was given (one line: what to do)."""


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
    """Serve ``app`` on HOST:PORT (port 0 picks a free one); yields the bound HOST:PORT.

    ``:PORT`` listens on every interface, IPv4 and IPv6. Raises ``ListenError`` when the
    address cannot be listened on.
    """
    host, port = parse_listen(listen)
    every_interface = listen.startswith(":")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        try:
            if every_interface:
                await web.SockSite(runner, _every_interface_socket(port)).start()
            else:
                await web.TCPSite(runner, host, port).start()
        except OSError as error:
            raise ListenError(listen_problem(listen, host, port, error)) from error
        yield f":{_bound_port(runner)}" if every_interface else _bound(runner, host)
    finally:
        await runner.cleanup()


def _every_interface_socket(port: int) -> socket.socket:
    """One listening socket on every interface: IPv6 and IPv4 where the host has IPv6."""
    if socket.has_dualstack_ipv6():
        return socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    return socket.create_server(("0.0.0.0", port))


def parse_listen(listen: str) -> tuple[str, int]:
    """ "HOST:PORT" or "[V6]:PORT" -> (host, port); raises ValueError on anything else."""
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"listen address must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def listen_problem(listen: str, host: str, port: int, error: OSError) -> str:
    """What is wrong with listening on ``listen``, and what to do, in one line."""
    where = f"cannot listen on {listen} (--listen)"
    if isinstance(error, socket.gaierror):
        return f"{where}: unknown host {host!r}: give an address of this machine"
    if error.errno == errno.EADDRINUSE:
        return (
            f"{where}: port {port} is already in use by another process: "
            "stop that process or choose another port"
        )
    if error.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges): choose another port"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {host} is not an address of this machine: give one that is"
    return f"{where}: {error.strerror or error}"


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the HTTP server is not listening on a TCP port")


def _bound(runner: web.AppRunner, host: str) -> str:
    port = _bound_port(runner)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    ready, reason = request.app[_READINESS]()
    return web.Response(status=200 if ready else 503, text=reason + "\n")


async def _metrics(request: web.Request) -> web.StreamResponse:
    """Every family, or those ``name[]`` names (by family or sample name), as the Python
    client's own handler filters."""
    headers = {"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    names = request.query.getall("name[]", None)
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    try:
        for part in metrics.exposition(names):
            # Many per-release series take a while to render: not on the event loop, and
            # written part by part, never held whole.
            await response.write((await asyncio.to_thread(part)).encode())
    except ConnectionResetError:
        return response  # the scraper went away (its timeout, say): nothing left to do
    await response.write_eof()
    return response
