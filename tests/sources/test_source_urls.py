"""URL sources against a real HTTP server on loopback: a values file read, 404 (skipped
when optional), 500, a server that never answers (the deadline), a connection refused,
bodies over the size limit (declared, and streamed without end: never read past the
limit), TLS verified (a private CA refused by default, trusted through the session
factory), conditional GETs reusing the copy kept on 304 (ETag or Last-Modified alone), a
changed file read again, the bound on what is kept, and messages without the URL's
credentials or query."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web
from sourcestesting import PODINFO, composed, failed, release, source

from controller.api import SourceKind
from controller.kube.client import KubeClient
from controller.settings import SourceSettings
from controller.sources import ValuesResolver
from testkit import ChartRepository

URL = SourceKind.URL


async def test_a_values_file_is_fetched(
    values_server: ChartRepository, values_dir: Path, resolver: ValuesResolver
) -> None:
    (values_dir / "prod.yaml").write_text("image:\n  tag: v2\n")
    spec = release(source(URL, f"{values_server.url}/prod.yaml"), values={"replicas": 2})

    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"image": {"tag": "v2"}, "replicas": 2}


async def test_404_is_not_found_and_skipped_when_optional(
    values_server: ChartRepository, resolver: ValuesResolver
) -> None:
    required = source(URL, f"{values_server.url}/absent.yaml")
    optional = dataclasses.replace(required, optional=True)

    error = failed(await resolver.compose(release(required), PODINFO), "SourceNotFound")
    skipped = composed(await resolver.compose(release(optional, values={"a": 1}), PODINFO))

    assert error.retryable
    assert error.message == f"{required} answered HTTP 404"
    assert skipped.values == {"a": 1}
    assert skipped.notes == (f"optional {optional} answered HTTP 404: skipped",)


@pytest.mark.parametrize("optional", [False, True])
async def test_500_is_unreachable_and_skipped_when_optional(
    values_server: ChartRepository, resolver: ValuesResolver, optional: bool
) -> None:
    """As helm-operator did: an optional URL that cannot be read is skipped."""

    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500)

    values_server.faults["/values.yaml"] = broken
    flaky = source(URL, f"{values_server.url}/values.yaml", optional=optional)
    result = await resolver.compose(release(flaky), PODINFO)
    if optional:
        assert composed(result).notes == (f"optional {flaky} answered HTTP 500: skipped",)
        return
    error = failed(result, "SourceUnreachable")
    assert error.retryable
    assert error.message == f"{flaky} answered HTTP 500"


async def test_a_server_that_never_answers_meets_the_deadline(
    values_server: ChartRepository, client: KubeClient
) -> None:
    arrived, release_server = asyncio.Event(), asyncio.Event()

    async def stuck(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release_server.wait()  # never set before the resolver gives up
        return web.Response(text="a: 1")

    values_server.faults["/values.yaml"] = stuck
    silent = source(URL, f"{values_server.url}/values.yaml")
    try:
        async with ValuesResolver(client, SourceSettings(timeout=0.2)) as resolver:
            error = failed(await resolver.compose(release(silent), PODINFO), "SourceUnreachable")
    finally:
        release_server.set()

    assert arrived.is_set()
    assert error.retryable
    assert error.message == f"{silent} did not answer within 0.2s"


async def test_a_connection_refused_is_unreachable(resolver: ValuesResolver) -> None:
    async with ChartRepository() as gone:
        url = f"{gone.url}/values.yaml"
    closed = source(URL, url)

    error = failed(await resolver.compose(release(closed), PODINFO), "SourceUnreachable")

    assert error.retryable
    assert error.message.startswith(f"{closed} could not be fetched (cannot connect")


async def test_a_declared_body_over_the_limit_is_refused(
    values_server: ChartRepository, values_dir: Path, client: KubeClient
) -> None:
    (values_dir / "big.yaml").write_text("a: " + "x" * 200)
    big = source(URL, f"{values_server.url}/big.yaml")

    async with ValuesResolver(client, SourceSettings(max_size=100)) as resolver:
        error = failed(await resolver.compose(release(big), PODINFO), "SourceTooLarge")

    assert error.message == f"{big} is larger than the limit of 100 bytes"


async def test_an_endless_body_is_cut_off_at_the_limit(
    values_server: ChartRepository, client: KubeClient
) -> None:
    written = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        response = web.StreamResponse()  # chunked: no Content-Length to refuse up front
        await response.prepare(request)
        try:
            for _ in range(100_000):  # 100 MB at most, if the client read it all
                await response.write(b"a: " + b"x" * 1021)
                written += 1024
        except ConnectionError:
            pass  # the client stopped reading and closed the connection
        return response

    values_server.faults["/endless.yaml"] = endless
    endless_source = source(URL, f"{values_server.url}/endless.yaml")

    settings = SourceSettings(max_size=64 << 10, timeout=30.0)
    async with ValuesResolver(client, settings) as resolver:
        error = failed(await resolver.compose(release(endless_source), PODINFO), "SourceTooLarge")

    assert error.message.endswith(f"is larger than the limit of {64 << 10} bytes")
    assert written < 20 << 20  # what the socket buffers took, not the 100 MB on offer


async def test_an_unchanged_file_is_revalidated_and_the_copy_kept_is_reused(
    values_server: ChartRepository, values_dir: Path, resolver: ValuesResolver
) -> None:
    (values_dir / "v.yaml").write_text("a:\n  b: 1\n")
    spec = release(source(URL, f"{values_server.url}/v.yaml"))

    first = composed(await resolver.compose(spec, PODINFO))
    second = composed(await resolver.compose(spec, PODINFO))

    assert first.values == second.values == {"a": {"b": 1}}
    assert values_server.statuses("/v.yaml") == [200, 304]
    assert values_server.seen[1].if_none_match is not None


async def test_last_modified_alone_revalidates_too(
    values_server: ChartRepository, values_dir: Path, resolver: ValuesResolver
) -> None:
    values_server.etags = False
    (values_dir / "v.yaml").write_text("a: 1\n")
    spec = release(source(URL, f"{values_server.url}/v.yaml"))

    composed(await resolver.compose(spec, PODINFO))
    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"a": 1}
    assert values_server.statuses("/v.yaml") == [200, 304]
    assert values_server.seen[1].if_modified_since is not None


async def test_a_changed_file_is_read_again(
    values_server: ChartRepository, values_dir: Path, resolver: ValuesResolver
) -> None:
    values_server.last_modified = False  # the ETag alone tells the versions apart
    (values_dir / "v.yaml").write_text("a: 1\n")
    spec = release(source(URL, f"{values_server.url}/v.yaml"))
    composed(await resolver.compose(spec, PODINFO))

    (values_dir / "v.yaml").write_text("a: 2\n")
    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"a": 2}
    assert values_server.statuses("/v.yaml") == [200, 200]


async def test_answers_beyond_the_bound_are_not_kept(
    values_server: ChartRepository, values_dir: Path, client: KubeClient
) -> None:
    (values_dir / "one.yaml").write_text("a: " + "1" * 400 + "\n")
    (values_dir / "two.yaml").write_text("b: " + "2" * 400 + "\n")
    one = source(URL, f"{values_server.url}/one.yaml")
    two = source(URL, f"{values_server.url}/two.yaml")

    async with ValuesResolver(client, SourceSettings(url_cache_max_bytes=1500)) as resolver:
        for spec in (release(one), release(two), release(one), release(two)):
            composed(await resolver.compose(spec, PODINFO))

    # Only one answer fits: each URL pushed the other out, so nothing was revalidated.
    assert values_server.statuses("/one.yaml") == [200, 200]
    assert [seen.if_none_match for seen in values_server.seen] == [None] * 4


async def test_content_that_is_not_a_map_is_invalid(
    values_server: ChartRepository, values_dir: Path, resolver: ValuesResolver
) -> None:
    (values_dir / "list.yaml").write_text("- a\n")
    listed = source(URL, f"{values_server.url}/list.yaml")

    error = failed(await resolver.compose(release(listed), PODINFO), "SourceInvalid")

    assert error.message == f"{listed} is not a map of values but a list"


async def test_messages_never_show_the_urls_credentials_or_query(
    values_server: ChartRepository, resolver: ValuesResolver
) -> None:
    host = values_server.url.removeprefix("http://")
    secret = source(URL, f"http://user:hunter2@{host}/absent.yaml?token=tok3n#frag")

    error = failed(await resolver.compose(release(secret), PODINFO), "SourceNotFound")
    note = composed(
        await resolver.compose(release(dataclasses.replace(secret, optional=True)), PODINFO)
    ).notes[0]

    for text in (error.message, note):
        assert f"http://{host}/absent.yaml" in text
        assert "hunter2" not in text
        assert "tok3n" not in text
        assert "frag" not in text


async def test_only_http_and_https_are_fetched(resolver: ValuesResolver) -> None:
    local = source(URL, "file:///etc/passwd")

    error = failed(await resolver.compose(release(local), PODINFO), "SourceInvalid")

    assert not error.retryable
    assert error.message.endswith("is not an http:// or https:// URL")


async def test_tls_is_verified(values_dir: Path, client: KubeClient) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    (values_dir / "v.yaml").write_text("a: 1\n")

    def trusting() -> aiohttp.ClientSession:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))

    async with ChartRepository(values_dir, ssl_context=server_context) as server:
        private = source(URL, f"{server.url}/v.yaml")
        async with ValuesResolver(client, SourceSettings()) as resolver:
            refused = failed(await resolver.compose(release(private), PODINFO), "SourceUnreachable")
        async with ValuesResolver(client, SourceSettings(), session_factory=trusting) as resolver:
            trusted = composed(await resolver.compose(release(private), PODINFO))

    assert refused.message == f"{private} could not be fetched (its TLS certificate is not trusted)"
    assert trusted.values == {"a": 1}
