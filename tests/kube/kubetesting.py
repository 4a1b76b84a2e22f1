"""Helpers of the kube tests: HelmRelease bodies and paths, and tiny hand-written API
servers with a client on them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from controller.kube.client import KubeClient, resource_path
from controller.settings import KubeSettings

GROUP = "flux.weave.works"
VERSION = "v1beta1"
REPOSITORY = "http://charts.example/"
"""Never fetched from: nothing in the kube tests reconciles."""


def helmreleases(namespace: str | None = None, name: str | None = None) -> str:
    return resource_path(GROUP, VERSION, "helmreleases", namespace, name)


def helmrelease(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "chart": {"repository": REPOSITORY, "name": "podinfo", "version": "6.7.1"},
            **spec,
        },
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def tiny_server(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    """Serve ``handler`` for every path on a free loopback port; yields the port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
        yield port
    finally:
        await runner.cleanup()


async def plain_client(
    tmp_path: Path, server: str, user: dict[str, Any], **cluster: str
) -> KubeClient:
    """A client from a kubeconfig with one cluster (``server`` plus ``cluster``) and ``user``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    await asyncio.to_thread(path.write_text, yaml.safe_dump(config))
    return await KubeClient.create(KubeSettings(kubeconfig=str(path), context="ctx"))
