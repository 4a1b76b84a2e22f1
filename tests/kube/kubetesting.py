"""Helpers of the kube tests: the HelmRelease CRD, HelmRelease bodies and paths, a
deadline-bounded condition wait, and tiny hand-written API servers with a client on them.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from controller.kube.client import KubeClient, resource_path
from controller.settings import KubeSettings

GROUP = "flux.weave.works"
VERSION = "v1beta1"

HELMRELEASE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"helmreleases.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": "helmreleases",
            "singular": "helmrelease",
            "kind": "HelmRelease",
            "listKind": "HelmReleaseList",
        },
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def helmreleases(namespace: str | None = None, name: str | None = None) -> str:
    return resource_path(GROUP, VERSION, "helmreleases", namespace, name)


def helmrelease(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"chart": {"name": "podinfo", "version": "6.7.1"}, **spec},
    }


async def wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds, polling; fails the test after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            # Polling state that has no event of its own, bounded by the deadline above.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"condition not met within {within}s")


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
