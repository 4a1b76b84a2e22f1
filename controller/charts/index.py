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
from collections.abc import Callable, Iterator, Mapping
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

    Read as a stream of YAML events, keeping only each version's ``version``, ``urls`` and
    ``digest``: the document itself is never built, so memory follows what is kept (not
    the size of the index, tens of MB for a large public repository), and the interpreter
    hands the GIL back between events (the event loop stays responsive). Like Helm,
    entries whose version is not a valid version are skipped.
    """
    stream = yaml.parse(data, Loader=_Loader)
    try:
        try:
            return _index(_Events(stream))
        except _NotAnIndex as error:
            for _ in stream:  # a YAML error further on is the better explanation
                pass
            return str(error)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"not valid YAML{where}"


class _NotAnIndex(Exception):
    """The document is YAML but not an index (the message says why)."""


class _Events:
    """The YAML events of a document, one at a time."""

    def __init__(self, events: Iterator[yaml.Event]) -> None:
        self._events = events

    def next(self) -> yaml.Event:
        event = next(self._events, None)
        if event is None:
            raise _NotAnIndex("the document ends early")
        return event

    def skip(self, event: yaml.Event) -> None:
        """Consume the rest of the node ``event`` starts."""
        depth = 1 if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent) else 0
        while depth:
            event = self.next()
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1

    def pairs(self) -> Iterator[tuple[str | None, yaml.Event]]:
        """The (key, first value event) of the mapping just started; a key that is not a
        scalar is None (its node is skipped)."""
        while not isinstance(event := self.next(), yaml.MappingEndEvent):
            key = event.value if isinstance(event, yaml.ScalarEvent) else None
            if key is None:
                self.skip(event)
            yield key, self.next()

    def items(self) -> Iterator[yaml.Event]:
        """The first event of each item of the sequence just started."""
        while not isinstance(event := self.next(), yaml.SequenceEndEvent):
            yield event


def _index(events: _Events) -> RepoIndex:
    while not isinstance(event := events.next(), yaml.MappingStartEvent | yaml.ScalarEvent):
        if isinstance(event, yaml.SequenceStartEvent):
            raise _NotAnIndex("no apiVersion")
    if not isinstance(event, yaml.MappingStartEvent):
        raise _NotAnIndex("no apiVersion")
    api_version, charts = False, {}
    for key, value in events.pairs():
        if key == "apiVersion" and isinstance(value, yaml.ScalarEvent):
            api_version = bool(value.value) and _text(value) is not None
        elif key == "entries" and isinstance(value, yaml.MappingStartEvent):
            charts = _entries(events)
        elif key == "entries" and not _null(value):
            raise _NotAnIndex("entries is not a mapping")
        else:
            events.skip(value)
    if not api_version:
        raise _NotAnIndex("no apiVersion")
    return RepoIndex(charts)


def _entries(events: _Events) -> dict[str, tuple[IndexEntry, ...]]:
    charts = {}
    for name, value in events.pairs():
        parsed = []
        if isinstance(value, yaml.SequenceStartEvent):
            for item in events.items():
                if (entry := _entry(events, item)) is not None:
                    parsed.append(entry)
        else:
            events.skip(value)
        if name is not None:
            parsed.sort(key=lambda pair: pair[0], reverse=True)
            charts[name] = tuple(entry for _, entry in parsed)
    return charts


def _entry(events: _Events, start: yaml.Event) -> tuple[semver.Version, IndexEntry] | None:
    if not isinstance(start, yaml.MappingStartEvent):
        events.skip(start)
        return None
    fields: dict[str, str | None] = {}
    urls: list[str | None] | None = None
    for key, value in events.pairs():
        if key in ("version", "digest") and isinstance(value, yaml.ScalarEvent):
            fields[key] = _text(value)
        elif key == "urls" and isinstance(value, yaml.SequenceStartEvent):
            urls = []
            for item in events.items():
                if isinstance(item, yaml.ScalarEvent):
                    urls.append(_text(item))
                else:
                    events.skip(item)
        else:
            events.skip(value)
    text, digest = fields.get("version"), fields.get("digest")
    version = semver.parse_version(text) if isinstance(text, str) else None
    if version is None or urls is None:
        return None
    url_texts = tuple(u for u in urls if u)
    if not url_texts:
        return None
    sha256 = digest.lower().removeprefix("sha256:") if isinstance(digest, str) else ""
    return version, IndexEntry(version.text, url_texts, sha256 or None)


_RESOLVER = yaml.resolver.Resolver()
_STRING = "tag:yaml.org,2002:str"


def _text(event: yaml.ScalarEvent) -> str | None:
    """A scalar's text when YAML reads it as a string (``1.0`` unquoted is a number, as a
    document loader would read it: not a version string)."""
    if event.tag not in (None, "!") and event.tag != _STRING:
        return None
    if event.style in (None, ""):  # plain: typed by its text
        return event.value if _plain_tag(event.value) == _STRING else None
    return event.value


def _null(event: yaml.Event) -> bool:
    if not isinstance(event, yaml.ScalarEvent) or event.style not in (None, ""):
        return False
    return _plain_tag(event.value).endswith(":null")


def _plain_tag(text: str) -> str:
    """The type YAML gives an unquoted scalar (``1.0``: a float, ``~``: null)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


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
        self._parsing = asyncio.Semaphore(1)
        """One index parsed at a time: the memory a parse takes is bounded by one index."""
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
        async with self._parsing:
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
