"""ChartFetcher: from (repository, chart, version constraint, credentials) to a verified
chart tarball on local disk.

Order of work for one fetch: an exact version already fetched with these credentials is
served from the cache without any request; otherwise the repository index (kept in
memory, revalidated when due) resolves the version; a cached file with the index's digest
is reused; else the tarball is downloaded once, however many callers want it at the same
time, its digest checked against the index, its content checked to be the named chart,
and it is stored in the cache.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

from controller.api import ChartSpec
from controller.charts.auth import RepoAuth
from controller.charts.cache import CachedChart, CacheKey, ChartCache
from controller.charts.download import (
    Downloaded,
    check_chart_archive,
    file_digest,
    stream_to_temp_file,
)
from controller.charts.errors import ChartError
from controller.charts.fetched import FetchedChart
from controller.charts.git import GitCharts
from controller.charts.index import IndexEntry, IndexStore, index_url
from controller.charts.oci import OciCharts
from controller.charts.singleflight import SingleFlight
from controller.charts.transport import (
    NotModified,
    Transport,
    http_url_problem,
    safe_url,
    same_origin,
)
from controller.metrics import CHART_CACHE_HITS, CHART_CACHE_MISSES, CHART_FETCH_DURATION
from controller.settings import ChartSettings, GitSettings

log = logging.getLogger(__name__)

DEFAULT_RETRY_BASE_DELAY = 0.5
"""Seconds before the first retry of a failed repository request (doubling, jittered)."""


@functools.lru_cache(maxsize=4096)  # the same few repositories, asked at every reconcile
def normalize_repository(repository: str) -> str | ChartError:
    """The repository URL without trailing slashes, or why it cannot be used."""
    repository = repository.strip()
    problem = http_url_problem(repository)
    parts = urlsplit(repository)
    if problem is None and (parts.username is not None or parts.password is not None):
        problem = "holds credentials; use a chartPullSecret instead"
    if problem is None and parts.query:
        problem = "has a query string, which chart repositories do not use"
    if problem is not None:
        return ChartError(
            "UnsupportedURL", f"repository URL {safe_url(repository)!r} {problem}", retryable=False
        )
    path = parts.path.rstrip("/")
    return parts._replace(scheme=parts.scheme.lower(), path=path, fragment="").geturl()


def cache_dir(settings: ChartSettings) -> Path:
    """Where charts are cached: the configured directory, else one under the temp dir."""
    if settings.cache_dir is not None:
        return settings.cache_dir
    return Path(tempfile.gettempdir()) / "helmrelease-operator" / "charts"


class ChartFetcher:
    """Obtains charts from Helm repositories; see the module docstring. Use one per process
    and ``close()`` it (or use it as ``async with``)."""

    def __init__(
        self,
        settings: ChartSettings,
        *,
        git: GitSettings | None = None,
        build_dependencies: Callable[[Path], Awaitable[str | None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY,
        on_late_fetch: Callable[[ChartSpec], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_late_fetch = on_late_fetch
        self._transport = Transport(settings, retry_base_delay=retry_base_delay)
        self._indexes = IndexStore(self._transport, settings, clock)
        self._cache = ChartCache(cache_dir(settings), settings.cache_max_bytes, clock)
        self._downloads: SingleFlight[CacheKey, FetchedChart | ChartError] = SingleFlight("chart")
        self._fetches: SingleFlight[CacheKey, FetchedChart | ChartError] = SingleFlight("fetch")
        root = cache_dir(settings).with_name(f"{cache_dir(settings).name}-git")
        self._oci = OciCharts(settings, self._transport, self._cache, clock)
        self.git = GitCharts(
            git or GitSettings(), self._cache, root, settings.max_chart_size, build_dependencies
        )
        """Charts from git repositories, into the same cache."""

    async def __aenter__(self) -> ChartFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.git.close()
        await self._oci.close()
        await self._fetches.close()
        await self._downloads.close()
        await self._indexes.close()
        await self._transport.close()

    async def fetch(
        self, repository: str, name: str, version: str, auth: RepoAuth | None = None
    ) -> FetchedChart | ChartError:
        """The chart ``name`` at ``version`` (exact or a constraint; empty means the latest
        stable) from ``repository``. Expected failures are returned, never raised.

        A fetch still running after ``fetch_wait`` goes on without the caller, who gets a
        ``StillFetching`` error (asking again joins it): a slow repository holds a worker
        for seconds, not for the minutes its fetch may take (``fetch_timeout``). When it
        ends, ``on_late_fetch`` is told which chart, so that the releases waiting for it
        go on at once."""
        started = time.perf_counter()
        cached = await self._from_cache(repository, name, version, auth)
        if cached is not None:  # as for every release in sync: no task, no timer
            _observe(cached, started)
            return cached
        key = (repository, auth, name, version)
        wait = self._settings.fetch_wait
        try:
            return await asyncio.wait_for(
                self._fetches.run(key, lambda: self._timed(repository, name, version, auth)),
                wait,
            )
        except TimeoutError:
            if (told := self._on_late_fetch) is not None:
                chart = ChartSpec(repository, name, version)
                self._fetches.when_done(key, lambda: told(chart))
            where = safe_url(repository)
            return ChartError(
                "StillFetching",
                f"waiting for chart {name} {version} from {where} (slower than {wait:g}s)",
                retryable=True,
            )

    async def _timed(
        self, repository: str, name: str, version: str, auth: RepoAuth | None
    ) -> FetchedChart | ChartError:
        started = time.perf_counter()
        limit = self._settings.fetch_timeout
        try:
            async with asyncio.timeout(limit):
                result = await self._fetch(repository, name, version, auth)
        except TimeoutError:
            result = ChartError(
                "RepositoryUnreachable",
                f"no complete answer from {safe_url(repository)} within {limit:g}s",
                retryable=True,
            )
        _observe(result, started)
        if isinstance(result, ChartError):
            log.info("chart %s %s from %s: %s", name, version, safe_url(repository), result.message)
        return result

    async def _fetch(
        self, repository: str, name: str, version: str, auth: RepoAuth | None
    ) -> FetchedChart | ChartError:
        if repository.strip().lower().startswith("oci://"):
            await self._cache.prepare()
            return await self._oci.fetch(repository, name, version, auth)
        repo = normalize_repository(repository)
        if isinstance(repo, ChartError):
            return repo
        await self._cache.prepare()
        entry = await self._indexes.lookup(repo, auth, name, version)
        if isinstance(entry, ChartError):
            return entry
        key = (repo, auth, name, entry.version)
        return await self._downloads.run(key, lambda: self._obtain(key, entry))

    async def _from_cache(
        self, repository: str, name: str, version: str, auth: RepoAuth | None
    ) -> FetchedChart | None:
        """The chart of a Helm repository when this exact request was answered before and
        its tarball is still cached (a constraint is looked up in the index every time)."""
        if repository.strip().lower().startswith("oci://"):
            return None
        repo = normalize_repository(repository)
        if isinstance(repo, ChartError):
            return None
        await self._cache.prepare()
        cached = await self._cache.recall((repo, auth, name, version))
        if cached is None:
            return None
        CHART_CACHE_HITS.inc()
        return FetchedChart(cached.path, cached.digest, name, version, repo)

    async def _obtain(self, key: CacheKey, entry: IndexEntry) -> FetchedChart | ChartError:
        repo, auth, name, version = key
        cached = await self._cache.recall(key)
        if cached is None and entry.digest is not None:
            cached = await self._cache.adopt(
                entry.digest, lambda path: _verify(path, entry.digest, name)
            )
        if cached is None:
            CHART_CACHE_MISSES.inc()
            downloaded = await self._download(repo, auth, name, entry)
            if isinstance(downloaded, ChartError):
                return downloaded
            cached = downloaded
        else:
            CHART_CACHE_HITS.inc()
        self._cache.remember(key, cached.digest)
        return FetchedChart(cached.path, cached.digest, name, version, repo)

    async def _download(
        self, repo: str, auth: RepoAuth | None, name: str, entry: IndexEntry
    ) -> CachedChart | ChartError:
        url = urljoin(index_url(repo), entry.urls[0])
        problem = http_url_problem(url)
        if problem is not None:
            return ChartError(
                "UnsupportedURL",
                f"the URL of chart {name} {entry.version}, {safe_url(url)!r}, {problem}",
                retryable=False,
            )
        directory = self._cache.directory
        limit = self._settings.max_chart_size
        downloaded = await self._transport.get(
            url,
            auth,
            # Like Helm without --pass-credentials: never to another host.
            send_credentials=same_origin(url, repo),
            read_body=lambda response: stream_to_temp_file(response, directory, limit),
            not_found=ChartError(
                "ChartNotFound", f"{safe_url(url)} does not exist (HTTP 404)", retryable=True
            ),
        )
        if isinstance(downloaded, NotModified):
            return ChartError(
                "RepositoryUnreachable",
                f"{safe_url(url)} answered HTTP 304 to an unconditional request",
                retryable=False,
            )
        if isinstance(downloaded, ChartError):
            return downloaded
        refused = await self._check(downloaded, name, entry, url)
        if refused is not None:
            await asyncio.to_thread(downloaded.path.unlink, missing_ok=True)
            return refused
        return await self._cache.add(downloaded.path, downloaded.digest, downloaded.size)

    async def _check(
        self, downloaded: Downloaded, name: str, entry: IndexEntry, url: str
    ) -> ChartError | None:
        if entry.digest is not None and downloaded.digest != entry.digest:
            return ChartError(
                "DigestMismatch",
                f"{safe_url(url)} has sha256 {downloaded.digest}, the index says {entry.digest}",
                retryable=True,
            )
        problem = await asyncio.to_thread(check_chart_archive, downloaded.path, name)
        if problem is not None:
            return ChartError("InvalidChart", f"{safe_url(url)}: {problem}", retryable=False)
        return None


def _verify(path: Path, digest: str | None, name: str) -> bool:
    return file_digest(path) == digest and check_chart_archive(path, name) is None


def _observe(result: FetchedChart | ChartError, started: float) -> None:
    outcome = "error" if isinstance(result, ChartError) else "ok"
    CHART_FETCH_DURATION.labels(result=outcome).observe(time.perf_counter() - started)
