"""Repositories behind TLS with a private CA (certificates made by trustme): the fetch fails
without the CA and works with it; client certificates are presented when required; bad
TLS material in a secret is refused with a clear error; sessions (one per TLS material)
beyond the cap are closed, least recently used first, once no request uses them."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from controller.charts import ChartError, ChartFetcher, FetchedChart, RepoAuth
from controller.charts.transport import Transport
from controller.settings import ChartSettings
from testkit import ChartRepository


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_context(ca: trustme.CA, *, client_certs: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


@pytest.fixture
async def tls_repo(repo_root: Path, ca: trustme.CA) -> AsyncIterator[ChartRepository]:
    async with ChartRepository(repo_root, ssl_context=tls_context(ca, client_certs=False)) as repo:
        yield repo


@pytest.fixture
async def mtls_repo(repo_root: Path, ca: trustme.CA) -> AsyncIterator[ChartRepository]:
    async with ChartRepository(repo_root, ssl_context=tls_context(ca, client_certs=True)) as repo:
        yield repo


async def test_private_ca_is_needed_and_sufficient(
    fetcher: ChartFetcher, tls_repo: ChartRepository, ca: trustme.CA
) -> None:
    untrusted = await fetcher.fetch(tls_repo.url, "podinfo", "6.7.1")
    assert isinstance(untrusted, ChartError)
    assert untrusted.reason == "RepositoryUnreachable"
    assert "not trusted" in untrusted.message
    assert not untrusted.retryable

    auth = RepoAuth(ca_pem=ca.cert_pem.bytes())
    chart = await fetcher.fetch(tls_repo.url, "podinfo", "6.7.1", auth)
    assert isinstance(chart, FetchedChart)


async def test_client_certificate_is_presented(
    fetcher: ChartFetcher, mtls_repo: ChartRepository, ca: trustme.CA
) -> None:
    client = ca.issue_cert("client.example")
    without_cert = await fetcher.fetch(
        mtls_repo.url, "podinfo", "6.7.1", RepoAuth(ca_pem=ca.cert_pem.bytes())
    )
    assert isinstance(without_cert, ChartError)
    assert without_cert.reason == "RepositoryUnreachable"

    auth = RepoAuth(
        ca_pem=ca.cert_pem.bytes(),
        cert_pem=client.cert_chain_pems[0].bytes(),
        key_pem=client.private_key_pem.bytes(),
    )
    chart = await fetcher.fetch(mtls_repo.url, "podinfo", "6.7.1", auth)
    assert isinstance(chart, FetchedChart)


async def test_unusable_tls_material_is_refused(
    fetcher: ChartFetcher, tls_repo: ChartRepository, ca: trustme.CA
) -> None:
    other = trustme.CA().issue_cert("client.example")
    mismatched = RepoAuth(
        ca_pem=ca.cert_pem.bytes(),
        cert_pem=ca.issue_cert("client.example").cert_chain_pems[0].bytes(),
        key_pem=other.private_key_pem.bytes(),
    )

    error = await fetcher.fetch(tls_repo.url, "podinfo", "6.7.1", mismatched)

    assert isinstance(error, ChartError)
    assert error.reason == "Unauthorized"
    assert "TLS" in error.message
    assert "PRIVATE KEY" not in error.message
    assert tls_repo.seen == []


async def test_least_recently_used_session_is_closed_beyond_the_cap(
    settings: ChartSettings, tls_repo: ChartRepository, ca: trustme.CA
) -> None:
    first = RepoAuth(ca_pem=ca.cert_pem.bytes())
    second = RepoAuth(ca_pem=ca.cert_pem.bytes() + b"\n")  # other material, same trust
    transport = Transport(settings, retry_base_delay=0.001, max_sessions=1)
    headers_sent, finish = asyncio.Event(), asyncio.Event()

    async def body_later(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 4
        await response.prepare(request)
        headers_sent.set()
        await finish.wait()
        await response.write(b"body")
        return response

    tls_repo.faults["/later"] = body_later

    async def read_all(response: aiohttp.ClientResponse) -> bytes:
        return await response.read()

    async def get(auth: RepoAuth, path: str = "/index.yaml") -> bytes:
        result = await transport.get(
            tls_repo.url + path,
            auth,
            send_credentials=False,
            read_body=read_all,
            not_found=ChartError("ChartNotFound", "missing", retryable=False),
        )
        assert isinstance(result, bytes), result
        return result

    try:
        in_use = asyncio.create_task(get(first, "/later"))
        await asyncio.wait_for(headers_sent.wait(), 10)
        [first_port] = tls_repo.open_client_ports()

        await get(second)  # evicts the first session while a request uses it
        finish.set()
        assert await asyncio.wait_for(in_use, 10) == b"body"  # it was not closed under it
        await tls_repo.wait_closed(first_port)  # but right after

        await get(first)  # a new session: a new connection
        assert len({s.client_port for s in tls_repo.seen}) == 3
    finally:
        await transport.close()
