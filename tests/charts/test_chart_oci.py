"""Charts from OCI registries: a real registry (the CNCF distribution registry) on loopback,
charts pushed by the real helm, pulled by the operator's chart stage.

Exact versions and constraints (against the tags), one blob download for many releases,
a new tag picked up at the next refresh, a tag that is not there, plain HTTP only when
allowed, basic auth from a pull secret (and a docker config.json login), TLS with a
custom CA. Without the registry binary the tests are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from prometheus_client import REGISTRY

from controller.charts import ChartError, ChartFetcher, FetchedChart, RepoAuth
from controller.charts.auth import registry_login
from controller.settings import ChartSettings
from testkit import CHARTS_DIR, FakeClock
from testkit.registry import Registry, push_chart, registry_available

USER, PASSWORD = "puller", "oci-s3cret"
REFRESH = 300.0

UNAVAILABLE = registry_available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with Registry(tmp_path / "registry") as served:
        for version in ("6.7.1", "6.11.2"):
            await push_chart(served, CHARTS_DIR / f"podinfo-{version}.tgz", "charts")
        yield served


def misses() -> float:
    """Charts downloaded so far by this process (the operator's own counter)."""
    return float(REGISTRY.get_sample_value("helmrelease_chart_cache_misses_total") or 0.0)


def fetcher_for(tmp_path: Path, *plain_http: str, clock: FakeClock | None = None) -> ChartFetcher:
    settings = ChartSettings(
        cache_dir=tmp_path / "cache", oci_plain_http=plain_http, repo_refresh_interval=REFRESH
    )
    return ChartFetcher(settings, clock=clock if clock is not None else time.monotonic)


async def pulled(
    charts: ChartFetcher, registry: Registry, version: str, auth: RepoAuth | None = None
) -> FetchedChart:
    chart = await charts.fetch(registry.oci("charts"), "podinfo", version, auth)
    assert isinstance(chart, FetchedChart), chart
    return chart


async def test_versions_and_constraints_resolve_against_the_tags(
    registry: Registry, tmp_path: Path
) -> None:
    async with fetcher_for(tmp_path, registry.host) as charts:
        exact = await pulled(charts, registry, "6.7.1")
        newest = await pulled(charts, registry, "~6.11")
        anything = await pulled(charts, registry, "")
        missing = await charts.fetch(registry.oci("charts"), "podinfo", "9.9.9", None)
        no_chart = await charts.fetch(registry.oci("charts"), "nothing", "*", None)
    assert (exact.name, exact.version) == ("podinfo", "6.7.1")
    assert (newest.version, anything.version) == ("6.11.2", "6.11.2")
    assert exact.digest != newest.digest
    assert isinstance(missing, ChartError)
    assert (missing.reason, missing.retryable) == ("VersionNotFound", True)
    assert isinstance(no_chart, ChartError)
    assert no_chart.reason == "ChartNotFound"


async def test_many_releases_of_one_chart_download_it_once(
    registry: Registry, tmp_path: Path
) -> None:
    before = misses()
    async with fetcher_for(tmp_path, registry.host) as charts:
        charts_pulled = await asyncio.gather(
            *(pulled(charts, registry, "~6.7") for _ in range(200))
        )
    assert len({chart.digest for chart in charts_pulled}) == 1
    assert misses() - before == 1


async def test_a_new_tag_is_found_at_the_next_refresh(registry: Registry, tmp_path: Path) -> None:
    clock = FakeClock()
    async with fetcher_for(tmp_path, registry.host, clock=clock) as charts:
        assert (await pulled(charts, registry, ">=6.0.0")).version == "6.11.2"
        await push_chart(registry, CHARTS_DIR / "podinfo-6.14.1.tgz", "charts")
        assert (await pulled(charts, registry, ">=6.0.0")).version == "6.11.2"  # until refreshed
        clock.advance(REFRESH + 1)
        assert (await pulled(charts, registry, ">=6.0.0")).version == "6.14.1"


async def test_plain_http_only_when_allowed(registry: Registry, tmp_path: Path) -> None:
    async with fetcher_for(tmp_path) as charts:
        error = await charts.fetch(registry.oci("charts"), "podinfo", "6.7.1", None)
    assert isinstance(error, ChartError)
    assert error.reason == "RepositoryUnreachable"


async def test_a_private_registry_takes_its_pull_secret(tmp_path: Path) -> None:
    async with Registry(tmp_path / "private", credentials=(USER, PASSWORD)) as private:
        await push_chart(private, CHARTS_DIR / "podinfo-6.7.1.tgz", "charts")
        async with fetcher_for(tmp_path, private.host) as charts:
            refused = await charts.fetch(private.oci("charts"), "podinfo", "6.7.1", None)
            wrong = await charts.fetch(
                private.oci("charts"), "podinfo", "6.7.1", RepoAuth(USER, "no")
            )
            chart = await pulled(charts, private, "6.7.1", RepoAuth(USER, PASSWORD))
    assert isinstance(refused, ChartError)
    assert refused.reason == "Unauthorized"
    assert isinstance(wrong, ChartError)
    assert wrong.reason == "Unauthorized"
    assert PASSWORD not in wrong.message
    assert chart.version == "6.7.1"


async def test_a_registry_with_a_custom_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    async with Registry(tmp_path / "tls", tls=ca) as secure:
        await push_chart(secure, CHARTS_DIR / "podinfo-6.7.1.tgz", "charts")
        async with fetcher_for(tmp_path) as charts:
            untrusted = await charts.fetch(secure.oci("charts"), "podinfo", "6.7.1", None)
            trusted = await pulled(charts, secure, "6.7.1", RepoAuth(ca_pem=ca.cert_pem.bytes()))
    assert isinstance(untrusted, ChartError)
    assert "not trusted" in untrusted.message
    assert trusted.version == "6.7.1"


def test_a_docker_config_login_is_found_by_registry() -> None:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = json.dumps(
        {
            "auths": {
                "https://registry.example.com": {"auth": auth},
                "other.example.com:5000": {"username": "u", "password": "p"},
            }
        }
    ).encode()
    assert registry_login(config, "registry.example.com") == (USER.encode(), PASSWORD.encode())
    assert registry_login(config, "other.example.com:5000") == (b"u", b"p")
    assert registry_login(config, "third.example.com") is None
    assert registry_login(b"not json", "registry.example.com") is None
