"""The only place that speaks HTTP to the Kubernetes API server.

kubernetes-asyncio is used for what it is good at, reading a kubeconfig (or the
in-cluster service account) into a ``Configuration``; every request then goes
through one aiohttp session with the TLS, authentication and timeouts that
configuration describes. Failed requests raise ``ApiError`` (a subclass per
well-known status); transport failures raise ``Unreachable``. Error messages
carry the server's reason and message, never a request body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import incluster_config, kube_config
from yarl import URL

from controller.settings import KubeSettings
from controller.values import decode_json

log = logging.getLogger(__name__)

# 429/503 answers are retried this many times, each after Retry-After (capped).
THROTTLE_RETRIES = 3
RETRY_AFTER_DEFAULT = 1.0
RETRY_AFTER_MAX = 30.0
# A service-account token is re-read this often (kubelet rotates it well before expiry).
TOKEN_REFRESH_INTERVAL = 60.0
# One watch event larger than this is refused rather than buffered without bound.
MAX_WATCH_LINE = 16 << 20
# Server messages are cut to this length: enough to explain, never a whole echoed object.
MAX_ERROR_MESSAGE = 500
# Accept headers asking for objects' metadata only (the API server's PartialObjectMetadata
# forms); a server that cannot serve them falls back to whole objects (the last entry).
METADATA_ONLY_LIST = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)
METADATA_ONLY_WATCH = (
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
)


class ApiError(Exception):
    """The API server refused a request (or could not be reached: ``Unreachable``)."""

    def __init__(
        self, status: int, reason: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        self.message = message[:MAX_ERROR_MESSAGE]
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: a stale resourceVersion, or the object already exists (``AlreadyExists``)."""


class AlreadyExists(Conflict):
    """409 AlreadyExists on create."""


class Invalid(ApiError):
    """422: the object failed validation."""


class Unreachable(ApiError):
    """No answer: connection refused or reset, TLS failure, timeout."""


def error_for(
    status: int, reason: str, message: str, *, retry_after: float | None = None
) -> ApiError:
    """The ApiError subclass matching an HTTP status (and reason)."""
    if status == 409 and reason == "AlreadyExists":
        kind: type[ApiError] = AlreadyExists
    else:
        kind = {404: NotFound, 409: Conflict, 422: Invalid}.get(status, ApiError)
    return kind(status, reason, message, retry_after=retry_after)


def resource_path(
    group: str,
    version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """URL path of a collection or object: /api/v1/... for the core group, /apis/g/v/... else."""
    parts = ["api", version] if group == "" else ["apis", group, version]
    if namespace is not None:
        parts += ["namespaces", namespace]
    parts.append(plural)
    if name is not None:
        parts.append(name)
        if subresource is not None:
            parts.append(subresource)
    return "/" + "/".join(quote(part, safe="") for part in parts)


class _Authorization(Protocol):
    async def header(self, *, refresh: bool = False) -> str | None:
        """The Authorization header value; ``refresh`` after a 401."""


class _KubeconfigCredentials:
    """The kubeconfig user's credentials, read again after a 401 (exec plugins and token
    files hand out tokens that expire)."""

    def __init__(self, settings: KubeSettings, value: str | None) -> None:
        self._settings = settings
        self._value = value

    async def header(self, *, refresh: bool = False) -> str | None:
        if refresh:
            configuration = await asyncio.to_thread(_read_kubeconfig, self._settings)
            self._value = _authorization_of(configuration)
        return self._value


class _TokenFile:
    """A service-account token file, re-read periodically and after a 401 (it rotates)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._token: str | None = None
        self._read_at = -TOKEN_REFRESH_INTERVAL

    async def header(self, *, refresh: bool = False) -> str | None:
        stale = time.monotonic() - self._read_at >= TOKEN_REFRESH_INTERVAL
        if refresh or stale or self._token is None:
            text = await asyncio.to_thread(self._path.read_text)
            self._token = text.strip()
            self._read_at = time.monotonic()
        return f"Bearer {self._token}"


@dataclass(frozen=True)
class _Headers:
    """Headers a caller chose for one request."""

    accept: str | None = None
    as_user: str | None = None

    def headers(self) -> dict[str, str]:
        chosen = {"Accept": self.accept, "Impersonate-User": self.as_user}
        return {name: value for name, value in chosen.items() if value is not None}


@dataclass(frozen=True)
class _Connection:
    """Everything needed to reach the server, read from kubeconfig or the service account."""

    host: str
    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    authorization: _Authorization
    helm_env: dict[str, str]


class KubeClient:
    """One aiohttp session to the API server; create with ``await KubeClient.create(...)``."""

    def __init__(self, connection: _Connection, settings: KubeSettings) -> None:
        self._connection = connection
        self._settings = settings
        self._unauthorized = False  # a 401 was seen: re-read the credentials before next use
        connector = aiohttp.TCPConnector(ssl=connection.ssl_context or False, limit=64)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"Accept": "application/json", "User-Agent": "helmrelease-operator"},
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    @classmethod
    async def create(cls, settings: KubeSettings) -> KubeClient:
        """Load the kubeconfig (or in-cluster credentials) and open the session."""
        connection = await _load_connection(settings)
        return cls(connection, settings)

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def helm_env(self) -> dict[str, str]:
        """Environment for a helm subprocess to reach the same cluster ({} in-cluster)."""
        return dict(self._connection.helm_env)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request budget, passed to aiohttp
        accept: str | None = None,
        as_user: str | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the JSON answer; raises ApiError.

        ``accept`` replaces the default Accept header (``METADATA_ONLY_LIST`` lists
        metadata only); ``as_user`` impersonates that user (``Impersonate-User``). 429 and
        503 are retried after their Retry-After a bounded number of times; a 401 re-reads a
        rotating token once.
        """
        data = _encode(body)
        seconds = self._settings.request_timeout if timeout is None else timeout
        throttled = 0
        reauthenticated = False
        while True:
            try:
                return await self._request_once(
                    method, path, params, data, content_type, seconds, _Headers(accept, as_user)
                )
            except ApiError as error:
                if error.status == 401 and not reauthenticated:
                    reauthenticated = True  # the next send re-reads a rotating token
                    continue
                if error.status not in (429, 503) or throttled >= THROTTLE_RETRIES:
                    raise
                throttled += 1
                await asyncio.sleep(retry_delay(error))

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except NotFound:
            return None

    def watch_stream(
        self, path: str, params: Mapping[str, str], *, accept: str | None = None
    ) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """A raw ``?watch=true`` stream; iterate it for one parsed event per line.

        Opening it raises ApiError when the server refuses the watch. The stream has
        no timeout of its own: the caller bounds each wait for the next event.
        ``accept`` replaces the default Accept header (``METADATA_ONLY_WATCH``).
        """
        return self._watch_stream(path, {**params, "watch": "true"}, accept)

    @asynccontextmanager
    async def _watch_stream(
        self, path: str, params: Mapping[str, str], accept: str | None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        timeout = aiohttp.ClientTimeout(total=None, connect=self._settings.request_timeout)
        send = self._send("GET", path, params, None, None, timeout, _Headers(accept))
        async with send as response:
            if response.status >= 300:
                raise await self._error_from(response)
            events = _json_lines(response.content)
            try:
                yield events
            finally:
                await events.aclose()

    async def _request_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str,
        seconds: float,
        extra: _Headers,
    ) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=seconds)
        send = self._send(method, path, params, data, content_type, timeout, extra)
        async with send as response:
            if response.status >= 300:
                raise await self._error_from(response)
            with _transport_errors():
                text = await response.read()
        try:
            answer = decode_json(text) if text else {}
        except ValueError as error:
            raise Unreachable(0, "BadResponse", "answer is not JSON") from error
        return answer if isinstance(answer, dict) else {}

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str | None,
        client_timeout: aiohttp.ClientTimeout,
        extra: _Headers,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request; transport failures while sending become ``Unreachable``."""
        headers = extra.headers()
        refresh, self._unauthorized = self._unauthorized, False
        try:
            authorization = await self._connection.authorization.header(refresh=refresh)
        except Exception as error:
            # An exec plugin, a kubeconfig or a token file that fails for now: the callers
            # retry ApiErrors, so this must be one (named by type only: no secrets).
            self._unauthorized = refresh  # try re-reading again next time
            raise Unreachable(0, "CredentialsUnavailable", type(error).__name__) from error
        if authorization:
            headers["Authorization"] = authorization
        if data is not None and content_type:
            headers["Content-Type"] = content_type
        url = URL(self._connection.host + path, encoded=True)
        with _transport_errors():
            response = await self._session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                timeout=client_timeout,
                server_hostname=self._connection.server_hostname,
            )
        try:
            yield response
        finally:
            response.release()

    async def _error_from(self, response: aiohttp.ClientResponse) -> ApiError:
        """The ApiError for a non-2xx answer, from its Status body when it has one."""
        if response.status == 401:
            self._unauthorized = True
        reason, message = response.reason or "", ""
        try:
            status_body = await response.json(content_type=None)
        except (ValueError, aiohttp.ClientError, TimeoutError):
            status_body = None
        if isinstance(status_body, dict):
            reason = str(status_body.get("reason") or reason)
            message = str(status_body.get("message") or "")
        return error_for(
            response.status, reason, message, retry_after=_retry_after(response.headers)
        )


@contextmanager
def _transport_errors() -> Iterator[None]:
    """Turn connection failures and timeouts of aiohttp into ``Unreachable``."""
    try:
        yield
    except aiohttp.ClientError as error:
        raise Unreachable(0, type(error).__name__, str(error)) from error
    except TimeoutError as error:
        raise Unreachable(0, "Timeout", "the API server did not answer in time") from error


def retry_delay(error: ApiError) -> float:
    """How long to wait before retrying after ``error`` (its Retry-After, bounded)."""
    delay = RETRY_AFTER_DEFAULT if error.retry_after is None else error.retry_after
    return min(max(delay, 0.0), RETRY_AFTER_MAX)


def _encode(body: Any) -> bytes | None:
    """Request body bytes: bytes and str as they are, anything else as JSON."""
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    # Every content type we send (JSON, merge/strategic/JSON patches, apply YAML) accepts JSON.
    return json.dumps(body, separators=(",", ":")).encode()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: the default delay will do


async def _json_lines(content: aiohttp.StreamReader) -> AsyncGenerator[dict[str, Any], None]:
    """Parse a watch body incrementally: one JSON object per line, any chunking."""
    buffer = bytearray()
    while True:
        with _transport_errors():
            chunk = await content.readany()
        if not chunk:
            break
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if event := _parse_line(line):
                yield event
        if len(buffer) > MAX_WATCH_LINE:
            raise Unreachable(0, "EventTooLarge", "watch event exceeds the size limit")
    if event := _parse_line(bytes(buffer)):
        yield event


def _parse_line(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        event = decode_json(line)
    except ValueError as error:
        raise Unreachable(0, "BadWatchEvent", "watch event is not JSON") from error
    return event if isinstance(event, dict) else None


async def _load_connection(settings: KubeSettings) -> _Connection:
    """Read credentials in a thread: the loaders read files (and may run an exec plugin)."""
    in_cluster = settings.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    if in_cluster:
        return await asyncio.to_thread(_load_in_cluster)
    return await asyncio.to_thread(_load_kubeconfig, settings)


def _kubeconfig_path(settings: KubeSettings) -> str:
    return settings.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"


def _read_kubeconfig(settings: KubeSettings) -> Any:
    """The kubeconfig as a kubernetes-asyncio Configuration (blocking: run in a thread)."""
    configuration = Configuration()
    loading = kube_config.load_kube_config(
        config_file=_kubeconfig_path(settings),
        context=settings.context,
        client_configuration=configuration,
        persist_config=False,
    )
    asyncio.run(loading)  # this thread's own loop: the loader is a coroutine
    return configuration


def _authorization_of(configuration: Any) -> str | None:
    """The Authorization header a loaded kubeconfig asks for (token files may end in a newline)."""
    value = configuration.api_key.get("BearerToken")
    return str(value).strip() if value else None


def _load_kubeconfig(settings: KubeSettings) -> _Connection:
    configuration = _read_kubeconfig(settings)
    paths = [os.path.expanduser(path) for path in _kubeconfig_path(settings).split(os.pathsep)]
    helm_env = {"KUBECONFIG": os.pathsep.join(paths)}
    if settings.context:
        helm_env["HELM_KUBECONTEXT"] = settings.context
    credentials = _KubeconfigCredentials(settings, _authorization_of(configuration))
    return _connection_from(configuration, credentials, helm_env)


def _load_in_cluster() -> _Connection:
    configuration = Configuration()
    incluster_config.load_incluster_config(  # type: ignore[no-untyped-call]
        client_configuration=configuration, try_refresh_token=False
    )
    token = _TokenFile(Path(incluster_config.SERVICE_TOKEN_FILENAME))
    return _connection_from(configuration, token, {})


def _connection_from(
    configuration: Any, authorization: _Authorization, helm_env: dict[str, str]
) -> _Connection:
    """Build the connection (runs in a thread: loading certificates reads files)."""
    host = str(configuration.host).rstrip("/")
    context: ssl.SSLContext | None = None
    if host.startswith("https://"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return _Connection(
        host=host,
        ssl_context=context,
        server_hostname=configuration.tls_server_name or None,
        authorization=authorization,
        helm_env=helm_env,
    )
