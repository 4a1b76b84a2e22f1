"""ChartFetcher against a real repository on loopback: index and tarball URLs, conditional
revalidation, forgetting idle indexes, single-flight, the on-disk cache across fetchers,
digest and archive checks, size limits, retries, the per-attempt deadline against a
trickling server, basic auth (one connection pool whatever the password), and what is
refused before any request."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import stat
from pathlib import Path

import pytest
from aiohttp import web
from chartstesting import cached_files, index_digest
from prometheus_client import REGISTRY

from controller.charts import ChartError, ChartFetcher, FetchedChart, RepoAuth
from controller.charts.index import IDLE_INTERVALS, RECHECK_INTERVAL
from controller.settings import ChartSettings
from testkit import ChartRepository, FakeClock

INDEX = "/index.yaml"
PODINFO_671 = "/podinfo-6.7.1.tgz"


def ok(result: FetchedChart | ChartError) -> FetchedChart:
    assert isinstance(result, FetchedChart), result
    return result


def failed(result: FetchedChart | ChartError, reason: str) -> ChartError:
    assert isinstance(result, ChartError), result
    assert result.reason == reason, result
    return result


async def test_fetches_chart_with_relative_url(
    fetcher: ChartFetcher, repo: ChartRepository, charts_dir: Path, settings: ChartSettings
) -> None:
    chart = ok(await fetcher.fetch(repo.url + "/", "podinfo", "6.7.1"))

    digest = index_digest(charts_dir, "podinfo", "6.7.1")
    assert chart == FetchedChart(
        settings.cache_dir / f"{digest}.tgz", digest, "podinfo", "6.7.1", repo.url
    )
    assert chart.path.read_bytes() == (charts_dir / "podinfo-6.7.1.tgz").read_bytes()
    assert stat.S_IMODE(chart.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.cache_dir.stat().st_mode) == 0o700


async def test_fetches_chart_with_absolute_url(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    index = repo.index()
    for entry in repo.entries(index, "podinfo"):
        entry["urls"] = [f"{repo.url}/podinfo-{entry['version']}.tgz"]
    repo.write_index(index)

    chart = ok(await fetcher.fetch(repo.url, "podinfo", "6.11.2"))

    assert chart.version == "6.11.2"
    assert repo.count("/podinfo-6.11.2.tgz") == 1


async def test_resolves_constraint_to_highest_match(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    assert ok(await fetcher.fetch(repo.url, "podinfo", "~6.11")).version == "6.11.2"
    assert ok(await fetcher.fetch(repo.url, "podinfo", "")).version == "6.14.1"


async def test_revalidates_with_etag_after_refresh_interval(
    fetcher: ChartFetcher, repo: ChartRepository, clock: FakeClock, settings: ChartSettings
) -> None:
    repo.last_modified = False
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    clock.advance(settings.repo_refresh_interval / 2)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    assert repo.statuses(INDEX) == [200]

    clock.advance(settings.repo_refresh_interval)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))

    assert repo.statuses(INDEX) == [200, 304]
    assert repo.seen[-1].if_none_match is not None


async def test_revalidates_with_last_modified(
    fetcher: ChartFetcher, repo: ChartRepository, clock: FakeClock, settings: ChartSettings
) -> None:
    repo.etags = False
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    clock.advance(settings.repo_refresh_interval + 1)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))

    assert repo.statuses(INDEX) == [200, 304]
    revalidation = [s for s in repo.seen if s.path == INDEX][-1]
    assert revalidation.if_modified_since is not None
    assert revalidation.if_none_match is None


async def test_index_idle_for_long_is_forgotten(
    fetcher: ChartFetcher, repo: ChartRepository, clock: FakeClock, settings: ChartSettings
) -> None:
    interval = settings.repo_refresh_interval
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    clock.advance(IDLE_INTERVALS * interval - 1)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))  # still known: conditional GET
    clock.advance(IDLE_INTERVALS * interval + 1)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))  # forgotten: fetched anew

    assert repo.statuses(INDEX) == [200, 304, 200]
    assert [s.if_none_match is None for s in repo.seen if s.path == INDEX] == [True, False, True]


async def test_missing_version_triggers_one_revalidation(
    fetcher: ChartFetcher, repo: ChartRepository, repo_root: Path, clock: FakeClock
) -> None:
    ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    index = repo.index()
    published = dict(repo.entries(index, "podinfo")[0], version="6.15.0", digest=None)
    published["urls"] = ["podinfo-6.14.1.tgz"]
    repo.entries(index, "podinfo").insert(0, published)
    repo.write_index(index)
    clock.advance(RECHECK_INTERVAL)

    assert ok(await fetcher.fetch(repo.url, "podinfo", "6.15.0")).version == "6.15.0"
    assert repo.count(INDEX) == 2

    failed(await fetcher.fetch(repo.url, "podinfo", "9.9.9"), "VersionNotFound")
    failed(await fetcher.fetch(repo.url, "podinfo", "9.9.9"), "VersionNotFound")
    assert repo.count(INDEX) == 2  # just revalidated: a typo does not hammer the repository

    clock.advance(RECHECK_INTERVAL)
    missing = failed(await fetcher.fetch(repo.url, "nope", "1.0.0"), "ChartNotFound")
    assert repo.count(INDEX) == 3
    assert missing.retryable


async def test_concurrent_fetches_share_one_download(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    results = await asyncio.gather(
        *(fetcher.fetch(repo.url, "podinfo", "6.7.1") for _ in range(100))
    )

    assert len({ok(r) for r in results}) == 1
    assert repo.count(INDEX) == 1
    assert repo.count(PODINFO_671) == 1


async def test_cached_chart_is_not_downloaded_again(
    fetcher: ChartFetcher,
    repo: ChartRepository,
    settings: ChartSettings,
    clock: FakeClock,
) -> None:
    first = ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    second = ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    assert second == first
    assert len(repo.seen) == 2  # the exact version came from memory: no index request

    async with ChartFetcher(settings, clock=clock) as restarted:
        third = ok(await restarted.fetch(repo.url, "podinfo", "6.7.1"))

    assert third == first
    assert repo.count(INDEX) == 2
    assert repo.count(PODINFO_671) == 1


async def test_digest_mismatch_is_detected_and_not_cached(
    fetcher: ChartFetcher, repo: ChartRepository, settings: ChartSettings
) -> None:
    index = repo.index()
    for entry in repo.entries(index, "podinfo"):
        entry["digest"] = hashlib.sha256(b"something else").hexdigest()
    repo.write_index(index)

    error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "DigestMismatch")

    assert "index says" in error.message
    assert list(cached_files(settings)) == []


async def test_connection_closed_mid_body_is_an_error(
    fetcher: ChartFetcher, repo: ChartRepository, repo_root: Path, settings: ChartSettings
) -> None:
    data = (repo_root / "podinfo-6.7.1.tgz").read_bytes()

    async def close_early(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no length announces an end
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    repo.faults[PODINFO_671] = close_early

    error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "RepositoryUnreachable")

    assert error.retryable
    assert repo.count(PODINFO_671) == settings.retries + 1
    assert list(cached_files(settings)) == []


async def test_short_content_length_is_caught(
    fetcher: ChartFetcher, repo: ChartRepository, repo_root: Path, settings: ChartSettings
) -> None:
    data = (repo_root / "podinfo-6.7.1.tgz").read_bytes()

    async def short(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data[: len(data) // 2])

    repo.faults[PODINFO_671] = short

    failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "DigestMismatch")

    index = repo.index()
    for entry in repo.entries(index, "podinfo"):
        entry.pop("digest")
    repo.write_index(index)
    async with ChartFetcher(settings) as without_digest:
        error = failed(await without_digest.fetch(repo.url, "podinfo", "6.7.1"), "InvalidChart")
    assert "gzip" in error.message
    assert list(cached_files(settings)) == []


async def test_oversized_chart_is_refused(
    repo: ChartRepository, repo_root: Path, settings: ChartSettings
) -> None:
    data = (repo_root / "podinfo-6.7.1.tgz").read_bytes()

    async def chunked_without_length(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(data), 1000):
            await response.write(data[start : start + 1000])
        await response.write_eof()
        return response

    small = dataclasses.replace(settings, max_chart_size=len(data) - 1)
    async with ChartFetcher(small) as fetcher:
        declared = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "TooLarge")
        repo.faults[PODINFO_671] = chunked_without_length
        streamed = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "TooLarge")

    assert not declared.retryable
    assert not streamed.retryable
    assert repo.count(PODINFO_671) == 2  # never retried
    assert list(cached_files(small)) == []


async def test_oversized_index_is_refused(repo: ChartRepository, settings: ChartSettings) -> None:
    async with ChartFetcher(dataclasses.replace(settings, max_index_size=1000)) as fetcher:
        error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "TooLarge")
    assert "index.yaml" in error.message


async def test_invalid_tarball_is_refused(
    fetcher: ChartFetcher, repo: ChartRepository, repo_root: Path
) -> None:
    (repo_root / "podinfo-6.7.1.tgz").write_bytes(b"not a tarball")
    index = repo.index()
    entries = repo.entries(index, "podinfo")
    for entry in entries:
        entry.pop("digest")
    # 6.11.2 points at another chart's archive.
    entries[1]["urls"] = ["sealed-secrets-2.18.5.tgz"]
    repo.write_index(index)

    garbage = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "InvalidChart")
    other = failed(await fetcher.fetch(repo.url, "podinfo", "6.11.2"), "InvalidChart")

    assert "gzip" in garbage.message
    assert "'sealed-secrets', not 'podinfo'" in other.message


async def test_basic_auth(fetcher: ChartFetcher, repo: ChartRepository) -> None:
    repo.credentials = ("reader", "s3cret")

    denied = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "Unauthorized")
    wrong = RepoAuth(username="reader", password="wrong")
    failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1", wrong), "Unauthorized")
    auth = RepoAuth(username="reader", password="s3cret")
    chart = ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1", auth))

    assert chart.version == "6.7.1"
    assert not denied.retryable
    assert "s3cret" not in denied.message
    assert repo.count(INDEX) == 3  # 401 is not retried


async def test_credentials_share_one_connection_pool(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    for password in ("first", "second", "third"):
        ok(await fetcher.fetch(repo.url, "podinfo", "^6", RepoAuth("reader", password)))

    assert len({s.authorization for s in repo.seen if s.path == INDEX}) == 3
    assert len({s.client_port for s in repo.seen}) == 1  # one kept-alive connection


async def test_credentials_are_not_sent_to_another_host(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    repo.credentials = ("reader", "s3cret")
    repo.public_paths = {PODINFO_671}
    index = repo.index()
    # Same server, other origin: "localhost" is not the repository's "127.0.0.1".
    repo.entries(index, "podinfo")[2]["urls"] = [f"http://localhost:{repo.port}{PODINFO_671}"]
    repo.write_index(index)

    auth = RepoAuth(username="reader", password="s3cret")
    ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1", auth))

    by_path = {s.path: s for s in repo.seen}
    assert by_path[INDEX].authorization is not None
    assert by_path[PODINFO_671].authorization is None


async def test_server_errors_are_retried(
    fetcher: ChartFetcher, repo: ChartRepository, settings: ChartSettings
) -> None:
    failures = settings.retries

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal failures
        if failures:
            failures -= 1
            return web.Response(status=503)
        del repo.faults[INDEX]
        return web.Response(body=(repo.root / "index.yaml").read_bytes())

    repo.faults[INDEX] = flaky

    ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    assert repo.statuses(INDEX) == [503] * settings.retries + [200]


async def test_server_errors_give_up_after_retries(
    fetcher: ChartFetcher, repo: ChartRepository, settings: ChartSettings
) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500)

    repo.faults[INDEX] = broken

    error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "RepositoryUnreachable")
    assert error.retryable
    assert "HTTP 500" in error.message
    assert repo.count(INDEX) == settings.retries + 1


@pytest.mark.parametrize("path", [INDEX, PODINFO_671])
async def test_trickling_server_is_cut_off_by_the_attempt_deadline(
    repo: ChartRepository, repo_root: Path, settings: ChartSettings, path: str
) -> None:
    # An attempt may take 0.5 + 4 * 0.25 = 1.5 s. The connect timeout is far above what a
    # loopback connect takes on a busy machine, the read timeout far above the trickle's gaps.
    quick = dataclasses.replace(settings, connect_timeout=0.5, read_timeout=0.25, retries=0)
    data = (repo_root / path.lstrip("/")).read_bytes()
    pieces = 150  # a piece every 20 ms or slower
    requests = 0

    async def trickle(request: web.Request) -> web.StreamResponse:
        # Never silent for a read timeout: only an overall deadline stops this.
        nonlocal requests
        requests += 1
        response = web.StreamResponse()
        response.content_length = len(data)
        await response.prepare(request)
        # Endless, so that only the deadline can end the download, however fast or slow
        # the machine: the answer's bytes go round and round.
        step = -(-len(data) // pieces)
        start = 0
        while request.transport is not None and not request.transport.is_closing():
            await response.write(data[start : start + step])
            start = (start + step) % len(data)
            await asyncio.sleep(0.02)  # the trickle's pace, far below the read timeout
        return response

    repo.faults[path] = trickle
    async with ChartFetcher(quick) as fetcher:
        error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "RepositoryUnreachable")

    assert "timed out" in error.message
    assert error.retryable
    assert requests == 1
    assert list(cached_files(quick)) == []  # the partial download is gone


async def test_missing_index_and_unreachable_repository(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    missing = failed(
        await fetcher.fetch(repo.url + "/elsewhere", "podinfo", "6.7.1"), "RepositoryUnreachable"
    )
    assert "404" in missing.message
    await repo.end()
    down = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "RepositoryUnreachable")
    assert down.retryable


async def test_invalid_index_is_reported(fetcher: ChartFetcher, repo: ChartRepository) -> None:
    (repo.root / "index.yaml").write_text("entries: [unclosed\n")
    error = failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "IndexInvalid")
    assert "line" in error.message


async def test_unsupported_urls_are_refused_without_requests(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    for url in ("s3://bucket/charts", "ftp://example.com/charts", "file:///charts"):
        error = failed(await fetcher.fetch(url, "podinfo", "6.7.1"), "UnsupportedURL")
        assert not error.retryable
    with_password = f"http://user:hunter2@127.0.0.1:{repo.port}"
    error = failed(await fetcher.fetch(with_password, "podinfo", "6.7.1"), "UnsupportedURL")
    assert "hunter2" not in error.message
    for url in ("http://127.0.0.1:99999", "http://", f"{repo.url}?token=abc", "not a url"):
        failed(await fetcher.fetch(url, "podinfo", "6.7.1"), "UnsupportedURL")
    assert repo.seen == []


async def test_unsupported_chart_url_in_index(fetcher: ChartFetcher, repo: ChartRepository) -> None:
    index = repo.index()
    repo.entries(index, "podinfo")[2]["urls"] = ["oci://registry.example/podinfo:6.7.1"]
    repo.write_index(index)

    failed(await fetcher.fetch(repo.url, "podinfo", "6.7.1"), "UnsupportedURL")


async def test_cancelled_caller_does_not_cancel_the_shared_download(
    fetcher: ChartFetcher, repo: ChartRepository, repo_root: Path
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return web.Response(body=(repo_root / "podinfo-6.7.1.tgz").read_bytes())

    repo.faults[PODINFO_671] = slow
    impatient = asyncio.create_task(fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    await asyncio.wait_for(arrived.wait(), 10)
    impatient.cancel()
    patient = asyncio.create_task(fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    release.set()

    chart = ok(await asyncio.wait_for(patient, 10))
    assert impatient.cancelled()
    assert chart.path.exists()
    assert repo.count(PODINFO_671) == 1


async def test_close_stops_downloads_in_flight(
    settings: ChartSettings, repo: ChartRepository, repo_root: Path
) -> None:
    arrived, release = asyncio.Event(), asyncio.Event()

    async def stuck(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return web.Response(status=500)

    repo.faults[PODINFO_671] = stuck
    fetcher = ChartFetcher(settings)
    waiting = asyncio.create_task(fetcher.fetch(repo.url, "podinfo", "6.7.1"))
    await asyncio.wait_for(arrived.wait(), 10)

    await fetcher.close()

    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    assert [p.name for p in cached_files(settings)] == []


async def test_invalid_constraint_is_not_retryable(
    fetcher: ChartFetcher, repo: ChartRepository
) -> None:
    error = failed(await fetcher.fetch(repo.url, "podinfo", ">>6"), "VersionNotFound")
    assert not error.retryable


async def test_cache_evicts_least_recently_used_within_bound(
    repo: ChartRepository, settings: ChartSettings, charts_dir: Path, clock: FakeClock
) -> None:
    def size(version: str) -> int:
        return (charts_dir / f"podinfo-{version}.tgz").stat().st_size

    bounded = dataclasses.replace(settings, cache_max_bytes=size("6.11.2") + size("6.14.1"))
    async with ChartFetcher(bounded, clock=clock) as fetcher:
        oldest = ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1"))
        middle = ok(await fetcher.fetch(repo.url, "podinfo", "6.11.2"))
        clock.advance(61)
        ok(await fetcher.fetch(repo.url, "podinfo", "6.11.2"))  # now used more recently
        newest = ok(await fetcher.fetch(repo.url, "podinfo", "6.14.1"))

        assert sorted(cached_files(bounded)) == sorted([middle.path, newest.path])
        assert sum(f.stat().st_size for f in cached_files(bounded)) <= bounded.cache_max_bytes

        # Everything was handed out just now (a worker may be reading it): nothing goes,
        # the bound is exceeded until the charts age.
        assert ok(await fetcher.fetch(repo.url, "podinfo", "6.7.1")) == oldest
        assert len(list(cached_files(bounded))) == 3
        assert repo.count(PODINFO_671) == 2


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_records_metrics(
    fetcher: ChartFetcher, repo: ChartRepository, clock: FakeClock, settings: ChartSettings
) -> None:
    names = {
        "hits": ("helmrelease_chart_cache_hits_total", {}),
        "misses": ("helmrelease_chart_cache_misses_total", {}),
        "bytes": ("helmrelease_chart_download_bytes_total", {}),
        "modified": ("helmrelease_repository_index_revalidations_total", {"result": "modified"}),
        "not_modified": (
            "helmrelease_repository_index_revalidations_total",
            {"result": "not_modified"},
        ),
        "ok": ("helmrelease_chart_fetch_duration_seconds_count", {"result": "ok"}),
        "error": ("helmrelease_chart_fetch_duration_seconds_count", {"result": "error"}),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in names.items()}

    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    ok(await fetcher.fetch(repo.url, "podinfo", "6.14.1"))
    clock.advance(settings.repo_refresh_interval)
    ok(await fetcher.fetch(repo.url, "podinfo", "^6"))
    failed(await fetcher.fetch(repo.url, "podinfo", "7.0.0"), "VersionNotFound")

    delta = {key: sample(name, **labels) - before[key] for key, (name, labels) in names.items()}
    assert delta["misses"] == 1
    assert delta["hits"] == 2
    assert delta["modified"] == 1
    assert delta["not_modified"] == 1
    assert delta["ok"] == 3
    assert delta["error"] == 1
    assert delta["bytes"] >= (repo.root / "podinfo-6.14.1.tgz").stat().st_size
