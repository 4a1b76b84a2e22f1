"""testkit's OCI registry: the real docker-registry, with the real helm pushing and pulling.

Covers: a chart pushed over plain HTTP is listed among the repository's tags under the
digest ``push_chart`` returned, and helm pulls it back byte for byte; the registry stops
cleanly on SIGTERM and a relaunch still holds the chart; with credentials, an anonymous
or wrong request gets a 401 with a Basic challenge while helm 4 and helm 3 log in and
push; with TLS, helm 4 pushes trusting the CA. Skipped, saying why, only where the
docker-registry binary is not installed.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from testkit import CHARTS_DIR, Registry, helm_bin, pinned, push_chart, registry_available, run

UNAVAILABLE = registry_available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

PODINFO = CHARTS_DIR / "podinfo-6.7.1.tgz"
USER, PASSWORD = "pusher", "s3cret"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[Registry]:
    """A registry that demands ``USER`` and ``PASSWORD``."""
    async with Registry(tmp_path / "registry", credentials=(USER, PASSWORD)) as running:
        yield running


async def get(
    registry: Registry, path: str, credentials: tuple[str, str] | None = None
) -> tuple[int, Mapping[str, str], Any]:
    """Status, headers and JSON body (None unless a 200) of ``GET path``, as ``credentials``
    (user, password) if given."""
    headers = {"Accept": OCI_MANIFEST}
    if credentials is not None:
        headers["Authorization"] = (
            "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        )
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{registry.url}{path}", headers=headers, ssl=registry.client_ssl()
        ) as response,
    ):
        body = await response.json(content_type=None) if response.status == 200 else None
        return response.status, response.headers, body


async def tags(
    registry: Registry, repository: str, credentials: tuple[str, str] | None = None
) -> Any:
    status, _, body = await get(registry, f"/v2/{repository}/tags/list", credentials)
    assert status == 200
    return body


async def test_a_pushed_chart_is_listed_and_pulled(registry: Registry, tmp_path: Path) -> None:
    digest = await push_chart(registry, PODINFO, "charts")
    assert await tags(registry, "charts/podinfo") == {"name": "charts/podinfo", "tags": ["6.7.1"]}
    status, headers, _ = await get(registry, "/v2/charts/podinfo/manifests/6.7.1")
    assert (status, headers["Docker-Content-Digest"]) == (200, digest)
    pulled = tmp_path / "pulled"
    pulled.mkdir()
    pull = (helm_bin(), "pull", registry.oci("charts/podinfo"), "--version", "6.7.1")
    (await run((*pull, "-d", str(pulled), "--plain-http"), registry.helm_env())).check()
    assert (pulled / PODINFO.name).read_bytes() == PODINFO.read_bytes()


async def test_it_stops_cleanly_and_relaunches_with_its_storage(registry: Registry) -> None:
    await push_chart(registry, PODINFO, "charts")
    await registry.stop()  # fails unless it exits 0
    registry.launch()
    await registry.ready()
    assert (await tags(registry, "charts/podinfo"))["tags"] == ["6.7.1"]


async def test_anonymous_and_wrong_requests_get_a_basic_challenge(locked: Registry) -> None:
    for credentials in (None, (USER, "wrong")):
        status, headers, _ = await get(locked, "/v2/", credentials)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic ")
    assert (await get(locked, "/v2/", (USER, PASSWORD)))[0] == 200


@pytest.mark.parametrize("helm", ["helm", "helm3"])
async def test_helm_logs_in_and_pushes(locked: Registry, helm: str) -> None:
    await push_chart(locked, PODINFO, "charts", helm=str(pinned(helm)))
    listed = await tags(locked, "charts/podinfo", (USER, PASSWORD))
    assert listed["tags"] == ["6.7.1"]


async def test_helm_pushes_over_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    async with Registry(tmp_path / "registry", tls=ca) as registry:
        assert registry.url.startswith("https://")
        digest = await push_chart(registry, PODINFO, "charts")
        assert digest.startswith("sha256:")
        assert (await tags(registry, "charts/podinfo"))["tags"] == ["6.7.1"]
