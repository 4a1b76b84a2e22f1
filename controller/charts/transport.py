"""HTTP GETs to chart repositories with aiohttp.

One ClientSession per distinct TLS material (its TLS context carries the custom CA and
client certificate), the least recently used closed beyond a cap; basic auth is added per
request and only for the repository's own origin. Each attempt has an overall deadline, so
a server trickling bytes cannot hold a caller indefinitely. 5xx, 429, connection failures
and timeouts are retried with jittered exponential backoff; 401/403 become Unauthorized at
once. Bodies are streamed and cut off past a size limit. Every failure is a ChartError
whose message holds no credentials.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar
from urllib.parse import urlsplit

import aiohttp
import yarl

from controller import __version__
from controller.charts.auth import RepoAuth, build_ssl_context
from controller.charts.errors import ChartError
from controller.metrics import CHART_BYTES
from controller.settings import ChartSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
BodyReader = Callable[[aiohttp.ClientResponse], Awaitable[T | ChartError]]

CHUNK_SIZE: Final = 64 * 1024
CONNECTIONS: Final = 32
"""Connections one session keeps open at most (all hosts together)."""
CONNECTIONS_PER_HOST: Final = 8
MAX_SESSIONS: Final = 16
"""Sessions (one per distinct TLS material) kept open at most."""
ATTEMPT_READ_TIMEOUTS: Final = 4
"""One attempt may take the connect timeout plus this many read timeouts in all."""
USER_AGENT: Final = f"helmrelease-operator/{__version__}"


@dataclass(frozen=True)
class Validators:
    """What makes a GET conditional: the ETag and Last-Modified of the copy we hold."""

    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def of(cls, response: aiohttp.ClientResponse) -> Validators:
        return cls(response.headers.get("ETag"), response.headers.get("Last-Modified"))

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True)
class NotModified:
    """The server answered 304 to a conditional GET."""


NOT_MODIFIED: Final = NotModified()


def safe_url(url: str) -> str:
    """``url`` fit for messages and logs: no userinfo, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def http_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be fetched by this module, or None when it can."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
        yarl.URL(url)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "is not an http:// or https:// URL"
    return None


def same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    try:
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
    except ValueError:
        return False


def too_large(url: str, limit: int) -> ChartError:
    return ChartError(
        "TooLarge", f"{safe_url(url)} is larger than the limit of {limit} bytes", retryable=False
    )


async def read_limited(
    response: aiohttp.ClientResponse, limit: int, consume: Callable[[bytes], Awaitable[None]]
) -> int | ChartError:
    """Stream the body into ``consume``; TooLarge as soon as it exceeds ``limit`` bytes."""
    url = str(response.url)
    if response.content_length is not None and response.content_length > limit:
        return too_large(url, limit)
    total = 0
    async for chunk in response.content.iter_chunked(CHUNK_SIZE):
        total += len(chunk)
        CHART_BYTES.inc(len(chunk))
        if total > limit:
            return too_large(url, limit)
        await consume(chunk)
    return total


_TlsKey = tuple[bytes | None, bytes | None, bytes | None] | None
"""What tells sessions apart: the CA, client certificate and key (None: system trust)."""


def _tls_key(auth: RepoAuth | None) -> _TlsKey:
    if auth is None or not auth.has_tls:
        return None
    return (auth.ca_pem, auth.cert_pem, auth.key_pem)


@dataclass
class _PooledSession:
    session: aiohttp.ClientSession
    users: int = 0
    evicted: bool = False


class _SessionPool:
    """Sessions per TLS material, least recently used first; beyond ``limit`` the oldest
    is dropped and closed as soon as no request uses it any more."""

    def __init__(self, timeout: aiohttp.ClientTimeout, limit: int) -> None:
        self._timeout = timeout
        self._limit = limit
        self._pooled: OrderedDict[_TlsKey, _PooledSession] = OrderedDict()
        self._lock = asyncio.Lock()

    async def acquire(self, auth: RepoAuth | None) -> _PooledSession | ChartError:
        """A session for ``auth``'s TLS material; hand it back with ``release``."""
        key = _tls_key(auth)
        async with self._lock:
            pooled = self._pooled.get(key)
            if pooled is None:
                created = await self._create(auth)
                if isinstance(created, ChartError):
                    return created
                pooled = self._pooled[key] = _PooledSession(created)
                await self._evict()
            self._pooled.move_to_end(key)
            pooled.users += 1
            return pooled

    async def release(self, pooled: _PooledSession) -> None:
        pooled.users -= 1
        if pooled.evicted and pooled.users == 0:
            await pooled.session.close()

    async def close(self) -> None:
        pooled, self._pooled = list(self._pooled.values()), OrderedDict()
        for entry in pooled:
            await entry.session.close()

    async def _evict(self) -> None:
        while len(self._pooled) > self._limit:
            _, oldest = self._pooled.popitem(last=False)
            oldest.evicted = True
            if oldest.users == 0:
                await oldest.session.close()

    async def _create(self, auth: RepoAuth | None) -> aiohttp.ClientSession | ChartError:
        ssl_context = (
            await asyncio.to_thread(build_ssl_context, auth)
            if auth is not None and auth.has_tls
            else None
        )
        if isinstance(ssl_context, ChartError):
            return ssl_context
        connector = aiohttp.TCPConnector(
            limit=CONNECTIONS,
            limit_per_host=CONNECTIONS_PER_HOST,
            ssl=ssl_context if ssl_context is not None else True,
        )
        return aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, headers={"User-Agent": USER_AGENT}
        )


class Transport:
    """GET with retries over sessions pooled per TLS material."""

    def __init__(
        self,
        settings: ChartSettings,
        *,
        retry_base_delay: float,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self._settings = settings
        self._retry_base_delay = retry_base_delay
        self._attempt_deadline = (
            settings.connect_timeout + ATTEMPT_READ_TIMEOUTS * settings.read_timeout
        )
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._sessions = _SessionPool(timeout, max_sessions)

    async def close(self) -> None:
        await self._sessions.close()

    async def get(
        self,
        url: str,
        auth: RepoAuth | None,
        *,
        send_credentials: bool,
        read_body: BodyReader[T],
        not_found: ChartError,
        validators: Validators | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> T | NotModified | ChartError:
        """GET ``url`` (with ``headers`` too); a 200 body goes to ``read_body``, a 404 yields
        ``not_found``."""
        pooled = await self._sessions.acquire(auth)
        if isinstance(pooled, ChartError):
            return pooled
        headers = {**(validators.headers() if validators else {}), **(headers or {})}
        if send_credentials and auth is not None and auth.username is not None:
            # aiohttp drops this header when a redirect leaves the origin.
            headers["Authorization"] = aiohttp.encode_basic_auth(auth.username, auth.password or "")
        try:
            return await self._get_retrying(pooled.session, url, headers, read_body, not_found)
        finally:
            await self._sessions.release(pooled)

    async def challenge(self, url: str, auth: RepoAuth | None) -> str | ChartError | None:
        """GET ``url`` without credentials: the ``WWW-Authenticate`` challenge of its 401,
        or None when it needs none (an OCI registry's ``/v2/``)."""
        pooled = await self._sessions.acquire(auth)
        if isinstance(pooled, ChartError):
            return pooled
        try:
            async with asyncio.timeout(self._attempt_deadline):
                async with pooled.session.get(url) as response:
                    if response.status == 401:
                        return response.headers.get("WWW-Authenticate", "")
                    if response.status < 400:
                        return None
                    failed = await self._handle(response, url, _no_body, _missing(url))
                    return failed if isinstance(failed, ChartError) else _missing(url)
        except (aiohttp.ClientError, TimeoutError) as error:
            return _connection_failure(url, error)
        finally:
            await self._sessions.release(pooled)

    async def _get_retrying(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        read_body: BodyReader[T],
        not_found: ChartError,
    ) -> T | NotModified | ChartError:
        result = await self._attempt(session, url, headers, read_body, not_found)
        for attempt in range(1, self._settings.retries + 1):
            if not isinstance(result, ChartError) or not result.retryable:
                break
            log.debug("retrying GET %s: %s", safe_url(url), result.message)
            await asyncio.sleep(self._backoff(attempt))
            result = await self._attempt(session, url, headers, read_body, not_found)
        return result

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        read_body: BodyReader[T],
        not_found: ChartError,
    ) -> T | NotModified | ChartError:
        try:
            async with asyncio.timeout(self._attempt_deadline):
                async with session.get(url, headers=headers) as response:
                    return await self._handle(response, url, read_body, not_found)
        except (aiohttp.ClientError, TimeoutError) as error:
            return _connection_failure(url, error)

    async def _handle(
        self,
        response: aiohttp.ClientResponse,
        url: str,
        read_body: BodyReader[T],
        not_found: ChartError,
    ) -> T | NotModified | ChartError:
        status = response.status
        if status == 200:
            return await read_body(response)
        if status == 304:
            return NOT_MODIFIED
        if status == 404:
            return not_found
        where = safe_url(url)
        if status in (401, 403):
            return ChartError("Unauthorized", f"{where} answered HTTP {status}", retryable=False)
        transient = status >= 500 or status in (408, 429)
        return ChartError(
            "RepositoryUnreachable", f"{where} answered HTTP {status}", retryable=transient
        )

    def _backoff(self, attempt: int) -> float:
        return float(self._retry_base_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))


async def _no_body(response: aiohttp.ClientResponse) -> None:
    return None


def _missing(url: str) -> ChartError:
    return ChartError("RepositoryUnreachable", f"{safe_url(url)} is not a registry", False)


def _connection_failure(url: str, error: BaseException) -> ChartError:
    where = safe_url(url)
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return ChartError(
            "RepositoryUnreachable",
            f"TLS certificate of {where} is not trusted: {error.certificate_error}",
            retryable=False,
        )
    if isinstance(error, aiohttp.ClientConnectorError):
        detail = error.os_error.strerror or error.os_error.__class__.__name__
        return ChartError("RepositoryUnreachable", f"cannot connect to {where}: {detail}", True)
    if isinstance(error, TimeoutError):
        return ChartError("RepositoryUnreachable", f"{where} timed out", retryable=True)
    if isinstance(error, aiohttp.ClientPayloadError):
        detail = "the response ended before its declared length or was malformed"
        return ChartError("RepositoryUnreachable", f"{where}: {detail}", retryable=True)
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return ChartError(
            "RepositoryUnreachable", f"{where} closed the connection early", retryable=True
        )
    return ChartError(
        "RepositoryUnreachable", f"{where}: {error.__class__.__name__}", retryable=True
    )
