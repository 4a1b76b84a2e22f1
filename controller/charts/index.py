"""Repository indexes: fetch, parse, keep in memory, revalidate, resolve chart versions.

A parsed index keeps only what resolution needs (chart name -> versions with their URLs
and digests). It is revalidated with a conditional GET (ETag / Last-Modified) at most once
per ``repo_refresh_interval``, or sooner when a requested chart or version is missing
from it (at most once per ``RECHECK_INTERVAL``, so a typo does not hammer the
repository). Concurrent revalidations of one repository share one request. An index
nobody has looked up for ``IDLE_INTERVALS`` refresh intervals is forgotten, so indexes of
removed repositories or rotated credentials do not pile up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import yaml

from controller.charts import semver
from controller.charts.auth import RepoAuth
from controller.charts.errors import ChartError
from controller.charts.singleflight import SingleFlight
from controller.charts.transport import (
    NotModified,
    Transport,
    Validators,
    read_limited,
    safe_url,
)
from controller.metrics import INDEX_REVALIDATIONS
from controller.settings import ChartSettings

log = logging.getLogger(__name__)

RECHECK_INTERVAL: Final = 5.0
"""Seconds between revalidations forced by a missing chart, or after a failed one."""
SHOWN_VERSIONS: Final = 5
"""How many available versions an error message lists."""
IDLE_INTERVALS: Final = 3
"""Refresh intervals after which an index nobody looked up is dropped."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class IndexEntry:
    """One chart version of an index."""

    version: str
    urls: tuple[str, ...]
    digest: str | None
    """sha256 of the tarball in lowercase hex, when the index states it."""


@dataclass(frozen=True)
class RepoIndex:
    charts: Mapping[str, tuple[IndexEntry, ...]]
    """Chart name -> its versions, highest first."""


def index_url(repository: str) -> str:
    return f"{repository}/index.yaml"


def parse_index(data: bytes) -> RepoIndex | str:
    """The useful part of an index.yaml, or why it is invalid (blocking: run in a thread).

    Like Helm, entries whose version is not a valid version are skipped.
    """
    try:
        document = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"not valid YAML{where}"
    if not isinstance(document, dict) or not document.get("apiVersion"):
        return "no apiVersion"
    entries = document.get("entries") or {}
    if not isinstance(entries, dict):
        return "entries is not a mapping"
    charts = {}
    for name, versions in entries.items():
        raw_versions = versions if isinstance(versions, list) else []
        parsed = [p for p in map(_parse_entry, raw_versions) if p is not None]
        parsed.sort(key=lambda pair: pair[0], reverse=True)
        charts[str(name)] = tuple(entry for _, entry in parsed)
    return RepoIndex(charts)


def _parse_entry(raw: object) -> tuple[semver.Version, IndexEntry] | None:
    if not isinstance(raw, dict):
        return None
    text, urls, digest = raw.get("version"), raw.get("urls"), raw.get("digest")
    version = semver.parse_version(text) if isinstance(text, str) else None
    if version is None or not isinstance(urls, list):
        return None
    url_texts = tuple(u for u in urls if isinstance(u, str) and u)
    if not url_texts:
        return None
    sha256 = digest.lower().removeprefix("sha256:") if isinstance(digest, str) else ""
    return version, IndexEntry(version.text, url_texts, sha256 or None)


def resolve(
    index: RepoIndex, repository: str, name: str, requested: str
) -> IndexEntry | ChartError:
    """The entry Helm would pick for chart ``name`` at version ``requested``."""
    entries = index.charts.get(name)
    where = safe_url(repository)
    if not entries:
        return ChartError("ChartNotFound", f"chart {name!r} not found in {where}", retryable=True)
    try:
        entry = semver.select(entries, requested, lambda e: e.version)
    except ValueError:
        return ChartError(
            "VersionNotFound", f"invalid version constraint {requested!r}", retryable=False
        )
    if entry is None:
        shown = ", ".join(e.version for e in entries[:SHOWN_VERSIONS])
        more = ", ..." if len(entries) > SHOWN_VERSIONS else ""
        return ChartError(
            "VersionNotFound",
            f"no version of chart {name!r} in {where} matches {requested or '*'!r} "
            f"(available: {shown}{more})",
            retryable=True,
        )
    return entry


@dataclass
class _RepoState:
    index: RepoIndex | None = None
    validators: Validators = field(default_factory=Validators)
    checked_at: float = float("-inf")
    next_check_at: float = float("-inf")
    used_at: float = float("-inf")


_IndexBody = tuple[bytes, Validators]
_RepoKey = tuple[str, RepoAuth | None]


class IndexStore:
    """Parsed indexes per (repository, credentials), revalidated lazily, dropped when idle."""

    def __init__(
        self, transport: Transport, settings: ChartSettings, clock: Callable[[], float]
    ) -> None:
        self._transport = transport
        self._settings = settings
        self._clock = clock
        self._states: dict[_RepoKey, _RepoState] = {}
        self._flights: SingleFlight[_RepoKey, ChartError | None] = SingleFlight("index")
        self._next_sweep_at = float("-inf")

    async def close(self) -> None:
        await self._flights.close()

    async def lookup(
        self, repository: str, auth: RepoAuth | None, name: str, requested: str
    ) -> IndexEntry | ChartError:
        """Resolve ``name``/``requested`` in the repository's index, revalidating it when due."""
        key = (repository, auth)
        self._sweep()
        state = self._states.setdefault(key, _RepoState())
        state.used_at = self._clock()
        failure = None
        if state.index is None or self._clock() >= state.next_check_at:
            failure = await self._revalidate(key, state)
        if state.index is None:
            return failure or ChartError(
                "RepositoryUnreachable", f"no index for {safe_url(repository)}", retryable=True
            )
        found = resolve(state.index, repository, name, requested)
        if (
            isinstance(found, ChartError)
            and found.retryable
            and self._clock() - state.checked_at >= RECHECK_INTERVAL
        ):
            failure = await self._revalidate(key, state)
            found = resolve(state.index, repository, name, requested)
        if isinstance(found, ChartError) and failure is not None:
            return failure  # the repository's failure explains the miss better
        return found

    def _sweep(self) -> None:
        """Drop the indexes idle for too long (at most once per refresh interval)."""
        now = self._clock()
        if now < self._next_sweep_at:
            return
        interval = self._settings.repo_refresh_interval
        self._next_sweep_at = now + interval
        idle = [
            key
            for key, state in self._states.items()
            if now - state.used_at > IDLE_INTERVALS * interval and key not in self._flights
        ]
        for key in idle:
            del self._states[key]

    async def _revalidate(self, key: _RepoKey, state: _RepoState) -> ChartError | None:
        return await self._flights.run(key, lambda: self._refresh(key, state))

    async def _refresh(self, key: _RepoKey, state: _RepoState) -> ChartError | None:
        repository, auth = key
        url = index_url(repository)
        body = await self._transport.get(
            url,
            auth,
            send_credentials=True,
            read_body=self._read_index,
            not_found=ChartError(
                "RepositoryUnreachable", f"{safe_url(url)} does not exist (HTTP 404)", False
            ),
            validators=state.validators if state.index is not None else None,
        )
        outcome = await self._apply(state, url, body)
        state.checked_at = self._clock()
        if outcome is None:
            state.next_check_at = state.checked_at + self._settings.repo_refresh_interval
        else:
            state.next_check_at = state.checked_at + RECHECK_INTERVAL
            INDEX_REVALIDATIONS.labels(result="error").inc()
            log.warning("index of %s: %s", safe_url(repository), outcome.message)
        return outcome

    async def _apply(
        self, state: _RepoState, url: str, body: _IndexBody | NotModified | ChartError
    ) -> ChartError | None:
        if isinstance(body, ChartError):
            return body
        if isinstance(body, NotModified):
            INDEX_REVALIDATIONS.labels(result="not_modified").inc()
            return None
        data, validators = body
        parsed = await asyncio.to_thread(parse_index, data)
        if isinstance(parsed, str):
            return ChartError("IndexInvalid", f"{safe_url(url)}: {parsed}", retryable=True)
        state.index, state.validators = parsed, validators
        INDEX_REVALIDATIONS.labels(result="modified").inc()
        return None

    async def _read_index(self, response: aiohttp.ClientResponse) -> _IndexBody | ChartError:
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        size = await read_limited(response, self._settings.max_index_size, keep)
        if isinstance(size, ChartError):
            return size
        return b"".join(chunks), Validators.of(response)
