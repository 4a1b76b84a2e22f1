"""Hostile tenants: HelmReleases written to hurt the operator or the other releases.

One copy of the attacks, for the test that checks the operator's answer to them and for the
bench that times it. ``attacks`` builds the HelmReleases: three of a repository that never
answers (``SLOW``; serve it with a ``ChartRepository`` whose index is faulted with
``NeverAnswers``), one of a repository with a large index (``large_repository`` writes it),
values nested deeper than any values file needs (``nested``) and a repository URL whose host
cannot be read. ``helmrelease`` builds any one HelmRelease of podinfo.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web

from testkit.paths import CHARTS_DIR

PODINFO = "podinfo-6.7.1.tgz"
SLOW = ("slow-1", "slow-2", "slow-3")
"""The releases of the repository that never answers."""
LARGE = "large"
DEEP = "deep"
BAD_URL = "bad-url"
DEPTH = 150
"""How deep the values of ``DEEP`` are nested."""
UNREADABLE_URL = "http://[::1/charts"
"""A repository URL whose host cannot be read (an IPv6 literal never closed)."""


def helmrelease(
    name: str,
    repository: str,
    values: Any = None,
    *,
    namespace: str = "default",
    api_version: str = "helm.fluxcd.io/v1",
) -> dict[str, Any]:
    """A HelmRelease of podinfo 6.7.1 from ``repository`` (values ``replicaCount: 1`` unless
    given)."""
    return {
        "apiVersion": api_version,
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "chart": {"repository": repository, "name": "podinfo", "version": "6.7.1"},
            "values": values if values is not None else {"replicaCount": 1},
        },
    }


def attacks(
    *,
    slow: str,
    large: str,
    good: str,
    namespace: str = "default",
    api_version: str = "helm.fluxcd.io/v1",
) -> list[dict[str, Any]]:
    """The hostile HelmReleases: ``SLOW`` of the repository at ``slow`` (one that never
    answers), ``LARGE`` of the one at ``large`` (a large index), ``DEEP`` of the one at
    ``good`` with values nested ``DEPTH`` levels, and ``BAD_URL`` of ``UNREADABLE_URL``."""

    def make(name: str, repository: str, values: Any = None) -> dict[str, Any]:
        return helmrelease(name, repository, values, namespace=namespace, api_version=api_version)

    return [
        *(make(name, slow) for name in SLOW),
        make(LARGE, large),
        make(DEEP, good, nested(DEPTH)),
        make(BAD_URL, UNREADABLE_URL),
    ]


class NeverAnswers:
    """A fault for ``ChartRepository.faults``: every request is held unanswered until
    ``release`` (then a 503), so that the repository can stop."""

    def __init__(self) -> None:
        self._released = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        await self._released.wait()
        return web.Response(status=503)

    def release(self) -> None:
        """Answer the requests held, and any later one at once."""
        self._released.set()


def large_repository(root: Path) -> None:
    """podinfo in an index of some 10 MiB of other charts, written into ``root``."""
    shutil.copy(CHARTS_DIR / PODINFO, root / PODINFO)
    entry = "  - {{name: c{n}, version: 1.0.{v}, urls: [c{n}-1.0.{v}.tgz], description: {text}}}\n"
    text = "x" * 150
    parts = [
        "apiVersion: v1\nentries:\n",
        f"  podinfo:\n  - {{version: 6.7.1, urls: [{PODINFO}]}}\n",
    ]
    for n in range(1000):
        parts.append(f"  c{n}:\n")
        parts.extend(entry.format(n=n, v=v, text=text) for v in range(50))
    (root / "index.yaml").write_text("".join(parts))


def nested(depth: int) -> Any:
    """A value ``depth`` mappings deep: ``{"a": {"a": ... "deep"}}``."""
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value
