"""URL sources: a GET with aiohttp, TLS verified, bounded in time and size, revalidated.

The whole request (connect, headers, body) has one deadline; the body is streamed and cut
off as soon as it exceeds the size limit (gzip-encoded bodies are counted unpacked). An
answer carrying an ETag or Last-Modified is kept in memory, the least recently used
dropped beyond a byte bound, and the next GET of that URL is conditional: a 304 reuses
the copy kept. 404 and 410 mean the source does not exist; any other answer but 2xx, a
connection failure or the deadline make it unreachable. Messages name the URL without
its credentials, query or fragment.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import aiohttp

from controller import __version__
from controller.api import ValuesSource
from controller.settings import SourceSettings
from controller.sources.errors import Missing, SourceError, failure

CHUNK_SIZE: Final = 64 * 1024
CONNECTIONS: Final = 32
CONNECTIONS_PER_HOST: Final = 8
ENTRY_OVERHEAD: Final = 512
"""Bytes each kept answer is charged beyond its body and URL (headers, bookkeeping)."""
USER_AGENT: Final = f"helmrelease-operator/{__version__}"

SessionFactory = Callable[[], aiohttp.ClientSession]


def default_session() -> aiohttp.ClientSession:
    """A session verifying TLS against the system's trust store."""
    connector = aiohttp.TCPConnector(
        limit=CONNECTIONS, limit_per_host=CONNECTIONS_PER_HOST, ssl=True
    )
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})


@dataclass(frozen=True)
class _Kept:
    """An answer kept for revalidation."""

    etag: str | None
    last_modified: str | None
    body: bytes = field(repr=False)

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class UrlReader:
    """GETs values documents; one aiohttp session, made on first use."""

    def __init__(self, settings: SourceSettings, session_factory: SessionFactory) -> None:
        self._settings = settings
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._kept_bytes = 0

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def kept_bytes(self) -> int:
        """Bytes charged for the answers kept (bounded by ``url_cache_max_bytes``)."""
        return self._kept_bytes

    async def read(self, source: ValuesSource) -> bytes | Missing | SourceError:
        """The body of ``source.name``, or why there is none."""
        url = source.name
        if self._session is None:
            self._session = self._session_factory()
        kept = self._kept.get(url)
        headers = kept.headers() if kept is not None else {}
        timeout = self._settings.timeout
        try:
            async with asyncio.timeout(timeout):
                async with self._session.get(url, headers=headers) as response:
                    return await self._answer(source, response, kept)
        except TimeoutError:
            return failure(source, "SourceUnreachable", f"did not answer within {timeout:g}s")
        except aiohttp.ClientError as error:
            return failure(source, "SourceUnreachable", f"could not be fetched ({_why(error)})")

    async def _answer(
        self, source: ValuesSource, response: aiohttp.ClientResponse, kept: _Kept | None
    ) -> bytes | Missing | SourceError:
        url, status = source.name, response.status
        if status == 304 and kept is not None:
            self._keep(url, response.headers, kept.body)
            return kept.body
        if status in (404, 410):
            self._forget(url)
            return Missing("SourceNotFound", f"answered HTTP {status}")
        if not 200 <= status < 300:
            return failure(source, "SourceUnreachable", f"answered HTTP {status}")
        limit = self._settings.max_size
        body = await _read_limited(response, limit)
        if body is None:
            self._forget(url)
            return failure(source, "SourceTooLarge", f"is larger than the limit of {limit} bytes")
        self._keep(url, response.headers, body)
        return body

    def _keep(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep ``body`` for revalidation when the answer has validators (else forget)."""
        previous = self._kept.get(url)
        etag = headers.get("ETag") or (previous.etag if previous else None)
        last_modified = headers.get("Last-Modified") or (
            previous.last_modified if previous else None
        )
        self._forget(url)
        if not (etag or last_modified):
            return
        entry = _Kept(etag, last_modified, body)
        charge = _charge(url, entry)
        if charge > self._settings.url_cache_max_bytes:
            return
        self._kept[url] = entry
        self._kept_bytes += charge
        while self._kept_bytes > self._settings.url_cache_max_bytes:
            oldest, dropped = self._kept.popitem(last=False)
            self._kept_bytes -= _charge(oldest, dropped)

    def _forget(self, url: str) -> None:
        dropped = self._kept.pop(url, None)
        if dropped is not None:
            self._kept_bytes -= _charge(url, dropped)


def _charge(url: str, entry: _Kept) -> int:
    validators = len(entry.etag or "") + len(entry.last_modified or "")
    return len(entry.body) + len(url) + validators + ENTRY_OVERHEAD


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` bytes (never reading further)."""
    if response.content_length is not None and response.content_length > limit:
        return None
    body = bytearray()
    while chunk := await response.content.read(min(CHUNK_SIZE, limit + 1 - len(body))):
        body += chunk
        if len(body) > limit:  # one byte past the limit is all it takes to know
            return None
    return bytes(body)


def _why(error: aiohttp.ClientError) -> str:
    """A connection failure in words, without the URL (it may hold credentials)."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not trusted"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect: {error.os_error.strerror or type(error.os_error).__name__}"
    if isinstance(error, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection early"
    if isinstance(error, aiohttp.ClientPayloadError):
        return "the answer ended early or was malformed"
    if isinstance(error, aiohttp.TooManyRedirects):
        return "too many redirects"
    return type(error).__name__
