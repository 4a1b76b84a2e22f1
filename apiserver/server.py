"""The in-memory API server as an async context manager: ``ApiServer``.

``ApiServer`` owns the state (store, registry, watches, faults, audit log) and an
aiohttp listener over it; ``restart()`` replaces the listener on the same port and
keeps the state, like an API server restart in front of the same etcd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

import yaml
from aiohttp import web

from . import errors
from .crds import CrdController
from .faults import DEFAULT_AUDIT_LIMIT, AuditLog, Faults
from .openapi_v2 import OpenApiV2
from .resources import Registry
from .routes import Handlers, request_info, status_response
from .routes.authorization import Authorization, impersonating
from .simulate import Simulator
from .store import Store
from .watch import WatchHub

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY_BYTES = 16 * 1024 * 1024
SHUTDOWN_TIMEOUT = 2.0
CLIENT_CLOSED_REQUEST = 499
"""Audit code of a request whose client went away first (an open watch, usually)."""


TOO_DEEP = "the object is nested deeper than this in-memory server can read"


class ApiServer:
    """An in-memory Kubernetes API server on loopback, for real helm, kubectl and clients.

    ``async with ApiServer(simulate=True) as api:`` serves at ``api.url``;
    ``api.store``, ``api.faults`` and ``api.audit`` give tests direct access; the audit log
    keeps the last ``audit_limit`` requests (``faults.AuditLog``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        simulate: bool = False,
        simulate_delay: float = 0.05,
        history_limit: int = 10_000,
        bookmark_interval: float = 1.0,
        max_pending_events: int = 10_000,
        audit_limit: int = DEFAULT_AUDIT_LIMIT,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = Registry()
        self.store = Store(
            history_limit=history_limit, status_split=self.registry.has_status_subresource
        )
        self.hub = WatchHub(
            self.store, max_pending=max_pending_events, bookmark_interval=bookmark_interval
        )
        self.crds = CrdController(self.store, self.registry)
        self.faults = Faults(self.store, self.hub)
        self.audit = AuditLog(audit_limit)
        self.simulator = Simulator(self.store, simulate_delay) if simulate else None
        self._handlers = Handlers(self.store, self.registry, self.hub)
        self._openapi_v2 = OpenApiV2(self.registry)
        self._authorization = Authorization(self.store)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.simulator is not None:
            self.simulator.start()
        await self._listen()

    async def stop(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()
        await self._close_listener()

    async def restart(self) -> None:
        """Stop listening (dropping open connections) and listen again on the same port."""
        await self._close_listener()
        await self._listen()

    async def _listen(self) -> None:
        # handler_cancellation: a watch ends as soon as its client disconnects
        runner = web.AppRunner(
            self._build_app(),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0:
            self.port = _bound_port(runner)

    async def _close_listener(self) -> None:
        self.hub.cut_all()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def _build_app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY_BYTES,
            middlewares=[self._audit_middleware, self._fault_middleware],
        )
        self._authorization.add_routes(app)
        app.router.add_get("/openapi/v2", self._openapi_v2.handle)  # before the handlers' 404
        self._handlers.add_routes(app)
        return app

    @web.middleware
    async def _audit_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request_info(request)
        code = 500
        try:
            response = await handler(request)
            code = response.status
            return response
        except RecursionError:
            # Deeper than this server's own walks of an object go (a real server stores up
            # to 10,000 levels): refused as a bad request, never a 500.
            code = 400
            return status_response(errors.bad_request(TOO_DEEP).status)
        except web.HTTPException as error:
            code = error.status
            raise
        except asyncio.CancelledError:
            code = CLIENT_CLOSED_REQUEST
            raise
        finally:
            self.audit.record(
                info, request.headers.get("User-Agent", ""), request.query.get("fieldManager"), code
            )

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.faults.latency_seconds:
            await asyncio.sleep(self.faults.latency_seconds)
        failure = self.faults.take_failure(request_info(request))
        if failure is None:
            if impersonating(request.headers):  # RBAC: only for impersonated requests
                return await self._authorization.guard(request, handler)
            return await handler(request)
        response = status_response(failure.status)
        if failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response

    def kubeconfig(self) -> str:
        """A kubeconfig for this server (plain HTTP, a static token user)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "apiserver", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "apiserver-test-token"}}],
            "contexts": [
                {
                    "name": "apiserver",
                    "context": {"cluster": "apiserver", "user": "tester", "namespace": "default"},
                }
            ],
            "current-context": "apiserver",
        }
        return yaml.safe_dump(config, sort_keys=False)

    async def write_kubeconfig(self, path: str | Path) -> None:
        await asyncio.to_thread(Path(path).write_text, self.kubeconfig())


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the API server is not listening on a TCP port")
