"""The operational endpoints over real HTTP on loopback.

Covers /healthz (200 while the loop runs), /readyz (200 when the readiness
function says so, 503 with its reason otherwise, following cache sync), /metrics
(Prometheus text with our metrics; ``name[]`` keeps the families it names), and parsing
of the listen address.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from controller import metrics
from controller.http import caches_synced, make_app, parse_listen, serve
from controller.kube.cache import Cache
from testkit import Scrape


async def fetch(address: str, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{address}{path}", timeout=aiohttp.ClientTimeout(total=5)) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz_answers_ok() -> None:
    async with serve(make_app(lambda: (False, "not yet")), "127.0.0.1:0") as address:
        status, _, body = await fetch(address, "/healthz")
    assert status == 200
    assert body == "ok\n"


async def test_readyz_follows_cache_sync() -> None:
    releases, secrets = Cache(), Cache()
    readiness = caches_synced({"helmreleases": releases, "release secrets": secrets})
    async with serve(make_app(readiness), "127.0.0.1:0") as address:
        status, _, body = await fetch(address, "/readyz")
        assert (status, body) == (503, "caches not synced: helmreleases, release secrets\n")
        releases.replace("flux.weave.works", [])
        status, _, body = await fetch(address, "/readyz")
        assert (status, body) == (503, "caches not synced: release secrets\n")
        secrets.replace("", [])
        status, _, body = await fetch(address, "/readyz")
        assert (status, body) == (200, "ok\n")


async def test_metrics_serves_prometheus_text() -> None:
    metrics.QUEUE_ADDS.inc()
    async with serve(make_app(lambda: (True, "ok")), "127.0.0.1:0") as address:
        status, content_type, body = await fetch(address, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert "# TYPE helmrelease_queue_adds_total counter" in body
    assert "helmrelease_watch_restarts_total" in body


async def test_metrics_keeps_the_families_name_asks_for() -> None:
    metrics.QUEUE_ADDS.inc()
    metrics.RELEASES.reconciled("apps", "web", 1, 1.5e9)
    wanted = "?name[]=helmrelease_queue_adds_total&name[]=helmrelease_release_ready"
    async with serve(make_app(lambda: (True, "ok")), "127.0.0.1:0") as address:
        status, _, body = await fetch(address, f"/metrics{wanted}")
    assert status == 200
    assert set(Scrape.parse(body).types) == {
        "helmrelease_queue_adds_total",
        "helmrelease_release_ready",
    }
    assert 'helmrelease_release_ready{namespace="apps",name="web"} 1.0' in body


async def test_metrics_answers_head_without_a_body(caplog: pytest.LogCaptureFixture) -> None:
    async with (
        serve(make_app(lambda: (True, "ok")), "127.0.0.1:0") as address,
        aiohttp.ClientSession() as session,
        session.head(f"http://{address}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        assert await response.read() == b""
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_serve_stops_listening_on_exit() -> None:
    async with serve(make_app(lambda: (True, "ok")), "127.0.0.1:0") as address:
        pass
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(address, "/healthz")


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":9090", ("0.0.0.0", 9090)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize(
    "listen", ["8080", "host:", "host:port", "", "host:65536", "host:\uff18\uff10"]
)
def test_parse_listen_rejects_garbage(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen)
