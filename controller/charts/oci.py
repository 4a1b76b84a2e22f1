"""Charts from OCI registries (``oci://registry/path`` repositories), over the OCI
distribution API with aiohttp, as ``helm pull oci://`` reads them.

Why not ``helm pull``: a helm process per release and resync would cost what the chart
cache exists to avoid, and it would need the credentials in a registry config file;
here one tag list and one manifest request per (repository, chart) answer every release
until the next refresh, and the blob is downloaded once, checked against the manifest's
digest, into the same content-addressed cache as repository charts.

Authentication as registries ask for it: ``GET /v2/`` tells; a ``Basic`` challenge gets
the pull secret's username and password, a ``Bearer`` challenge a token from its realm
(asked with them, or anonymously), cached until it expires. HTTPS is verified (a custom
CA from the pull secret); plain HTTP only for registries listed in
``--oci-plain-http``. Tags are semver versions (``+`` written ``_``, as helm pushes them);
a constraint is resolved against the tag list (paged, bounded).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import aiohttp

from controller.charts import semver
from controller.charts.auth import RepoAuth
from controller.charts.cache import ChartCache
from controller.charts.download import Downloaded, check_chart_archive, stream_to_temp_file
from controller.charts.errors import ChartError
from controller.charts.fetched import FetchedChart
from controller.charts.singleflight import SingleFlight
from controller.charts.transport import NotModified, Transport, read_limited
from controller.metrics import CHART_CACHE_HITS, CHART_CACHE_MISSES
from controller.settings import ChartSettings

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_JSON = 4 << 20
"""Largest tag list page, manifest or token answer read, in bytes."""
MAX_TAGS = 10_000
"""Tags read at most from one repository (a constraint is resolved among them)."""
PAGE = 1000
TOKEN_MARGIN = 30.0
"""Seconds before its expiry a token is no longer used."""
BEARER = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class _Reference:
    registry: str
    """``host[:port]``."""
    base: str
    """``https://host[:port]`` (or http:// when allowed)."""
    repository: str
    """The chart's repository in the registry: ``<path>/<chart name>``."""

    @property
    def shown(self) -> str:
        return f"{self.registry}/{self.repository}"


@dataclass(frozen=True)
class _Resolved:
    version: str
    layer: str
    """sha256 hex digest of the chart layer."""
    at: float


class OciCharts:
    """Obtains charts from OCI registries into ``cache``; one per process."""

    def __init__(
        self,
        settings: ChartSettings,
        transport: Transport,
        cache: ChartCache,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._cache = cache
        self._clock = clock
        self._tokens: dict[tuple[str, str, RepoAuth | None], tuple[str, float]] = {}
        self._resolved: dict[tuple[str, str, RepoAuth | None], _Resolved] = {}
        self._flights: SingleFlight[tuple[Any, ...], Any] = SingleFlight("oci")

    async def close(self) -> None:
        await self._flights.close()

    async def fetch(
        self, repository: str, name: str, version: str, auth: RepoAuth | None
    ) -> FetchedChart | ChartError:
        """Chart ``name`` at ``version`` (exact or a constraint) of ``oci://`` ``repository``."""
        reference = self._reference(repository, name)
        if isinstance(reference, ChartError):
            return reference
        key = (reference.base + "/" + reference.repository, version, auth)
        resolved = self._resolved.get(key)
        if resolved is None or self._clock() - resolved.at > self._settings.repo_refresh_interval:
            found = await self._flights.run(
                ("resolve", *key), lambda: self._resolve(reference, version, auth)
            )
            if isinstance(found, ChartError):
                return found
            resolved = self._resolved[key] = found
        cached = await self._cache.checkout(resolved.layer)
        if cached is not None:
            CHART_CACHE_HITS.inc()
        else:
            pulled = await self._flights.run(
                ("blob", resolved.layer), lambda: self._pull(reference, resolved, name, auth)
            )
            if isinstance(pulled, ChartError):
                return pulled
            cached = await self._cache.checkout(resolved.layer)
            if cached is None:
                return ChartError("InvalidChart", f"chart {name} vanished from the cache", True)
        return FetchedChart(
            cached.path, cached.digest, name, resolved.version, repository.rstrip("/")
        )

    def _reference(self, repository: str, name: str) -> _Reference | ChartError:
        rest = repository.strip().rstrip("/")
        if not rest.lower().startswith("oci://"):
            return ChartError("UnsupportedURL", f"{repository} is not an oci:// repository", False)
        registry, _, path = rest[len("oci://") :].partition("/")
        if not registry or "@" in registry:
            return ChartError(
                "UnsupportedURL",
                "an oci:// repository names a registry, without credentials",
                False,
            )
        scheme = "http" if registry in self._settings.oci_plain_http else "https"
        repo = "/".join(part for part in (path, name) if part)
        return _Reference(registry, f"{scheme}://{registry}", repo)

    # --- resolution ---------------------------------------------------------------------------

    async def _resolve(
        self, reference: _Reference, version: str, auth: RepoAuth | None
    ) -> _Resolved | ChartError:
        tag = await self._tag(reference, version, auth)
        if isinstance(tag, ChartError):
            return tag
        url = f"{reference.base}/v2/{reference.repository}/manifests/{quote(tag, safe='')}"
        manifest = await self._json(
            reference,
            url,
            auth,
            {"Accept": MANIFEST_TYPES},
            ChartError(
                "VersionNotFound",
                f"no version {tag.replace('_', '+')} of {reference.shown}",
                True,
            ),
        )
        if isinstance(manifest, ChartError):
            return manifest
        layers = [
            layer
            for layer in manifest.get("layers") or []
            if isinstance(layer, Mapping) and layer.get("mediaType") == CHART_LAYER
        ]
        digest = str(layers[0].get("digest", "")) if layers else ""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return ChartError(
                "InvalidChart", f"{reference.repository}:{tag} holds no Helm chart", False
            )
        return _Resolved(tag.replace("_", "+"), digest.removeprefix("sha256:"), self._clock())

    async def _tag(
        self, reference: _Reference, version: str, auth: RepoAuth | None
    ) -> str | ChartError:
        exact = semver.parse_version(version)
        if exact is not None and version == exact.text:
            return version.replace("+", "_")
        tags = await self._tags(reference, auth)
        if isinstance(tags, ChartError):
            return tags
        try:
            best = semver.select(
                [tag.replace("_", "+") for tag in tags], version or "*", lambda tag: tag
            )
        except ValueError:
            return ChartError("VersionNotFound", f"invalid version constraint {version!r}", False)
        if best is None:
            return ChartError(
                "VersionNotFound",
                f"no tag of {reference.registry}/{reference.repository} matches {version or '*'!r}",
                True,
            )
        return best.replace("+", "_")

    async def _tags(self, reference: _Reference, auth: RepoAuth | None) -> list[str] | ChartError:
        tags: list[str] = []
        url: str | None = (
            f"{reference.base}/v2/{reference.repository}/tags/list?{urlencode({'n': PAGE})}"
        )
        while url is not None and len(tags) < MAX_TAGS:
            page = await self._json(
                reference,
                url,
                auth,
                {},
                ChartError(
                    "ChartNotFound",
                    f"no chart {reference.repository} in {reference.registry}",
                    True,
                ),
                with_link=True,
            )
            if isinstance(page, ChartError):
                return page
            body, link = page
            tags += [tag for tag in body.get("tags") or [] if isinstance(tag, str)]
            url = urljoin(url, link) if link else None
        return tags[:MAX_TAGS]

    # --- requests -----------------------------------------------------------------------------

    async def _json(
        self,
        reference: _Reference,
        url: str,
        auth: RepoAuth | None,
        headers: Mapping[str, str],
        missing: ChartError,
        *,
        with_link: bool = False,
    ) -> Any:
        authorization = await self._authorization(reference, auth)
        if isinstance(authorization, ChartError):
            return authorization

        async def read(response: aiohttp.ClientResponse) -> Any:
            loaded = await _json_object(response, f"{reference.registry} answered no JSON object")
            if isinstance(loaded, ChartError) or not with_link:
                return loaded
            return loaded, _next_link(response.headers.get("Link"))

        found = await self._transport.get(
            url,
            auth,
            send_credentials=False,
            read_body=read,
            not_found=missing,
            headers={**headers, **authorization},
        )
        if isinstance(found, NotModified):
            return ChartError("IndexInvalid", f"{reference.registry} answered 304 unasked", True)
        return found

    async def _pull(
        self, reference: _Reference, resolved: _Resolved, name: str, auth: RepoAuth | None
    ) -> str | ChartError:
        authorization = await self._authorization(reference, auth)
        if isinstance(authorization, ChartError):
            return authorization
        CHART_CACHE_MISSES.inc()
        directory = self._cache.directory
        url = f"{reference.base}/v2/{reference.repository}/blobs/sha256:{resolved.layer}"

        async def save(response: aiohttp.ClientResponse) -> Downloaded | ChartError:
            return await stream_to_temp_file(response, directory, self._settings.max_chart_size)

        downloaded = await self._transport.get(
            url,
            auth,
            send_credentials=False,
            read_body=save,
            not_found=ChartError(
                "ChartNotFound", f"the chart layer of {reference.repository} is missing", True
            ),
            headers=authorization,
        )
        if isinstance(downloaded, ChartError | NotModified):
            return (
                downloaded
                if isinstance(downloaded, ChartError)
                else ChartError("InvalidChart", "304 unasked", True)
            )
        try:
            if downloaded.digest != resolved.layer:
                return ChartError(
                    "DigestMismatch",
                    f"the chart layer of {reference.repository} does not match its digest",
                    True,
                )
            problem = await asyncio.to_thread(check_chart_archive, downloaded.path, name)
            if problem is not None:
                return ChartError(
                    "InvalidChart", f"{reference.repository}:{resolved.version}: {problem}", False
                )
            await self._cache.add(downloaded.path, downloaded.digest, downloaded.size)
        finally:
            await asyncio.to_thread(downloaded.path.unlink, True)
        return downloaded.digest

    async def _authorization(
        self, reference: _Reference, auth: RepoAuth | None
    ) -> dict[str, str] | ChartError:
        """The Authorization header the registry asks for (none: anonymous)."""
        key = (reference.base, reference.repository, auth)
        token = self._tokens.get(key)
        if token is not None and token[1] > self._clock():
            return {"Authorization": token[0]}
        found = await self._flights.run(("auth", *key), lambda: self._authorize(reference, auth))
        if isinstance(found, ChartError):
            return found
        if found is None:
            return {}
        self._tokens[key] = found
        return {"Authorization": found[0]}

    async def _authorize(
        self, reference: _Reference, auth: RepoAuth | None
    ) -> tuple[str, float] | ChartError | None:
        challenge = await self._transport.challenge(f"{reference.base}/v2/", auth)
        if challenge is None or isinstance(challenge, ChartError):
            return challenge
        scheme, _, parameters = challenge.partition(" ")
        if scheme.lower() == "basic":
            if auth is None or auth.username is None:
                return ChartError(
                    "Unauthorized",
                    f"{reference.registry} needs credentials (chartPullSecret)",
                    False,
                )
            header = aiohttp.encode_basic_auth(auth.username, auth.password or "")
            return header, self._clock() + self._settings.repo_refresh_interval
        if scheme.lower() != "bearer":
            return ChartError(
                "Unauthorized",
                f"{reference.registry} asks for {scheme or 'an unknown'} authentication",
                False,
            )
        return await self._token(reference, dict(BEARER.findall(parameters)), auth)

    async def _token(
        self, reference: _Reference, challenge: Mapping[str, str], auth: RepoAuth | None
    ) -> tuple[str, float] | ChartError:
        realm = challenge.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            return ChartError("Unauthorized", f"{reference.registry} names no token service", False)
        query = {"scope": f"repository:{reference.repository}:pull"}
        if "service" in challenge:
            query["service"] = challenge["service"]
        url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"

        async def read(response: aiohttp.ClientResponse) -> Any:
            return await _json_object(
                response, f"the token service of {reference.registry} answered no JSON object"
            )

        answer = await self._transport.get(
            url,
            auth,
            send_credentials=auth is not None and auth.username is not None,
            read_body=read,
            not_found=ChartError(
                "Unauthorized", f"no token service for {reference.registry}", False
            ),
        )
        if isinstance(answer, ChartError | NotModified) or not isinstance(answer, dict):
            return (
                answer
                if isinstance(answer, ChartError)
                else ChartError("Unauthorized", f"no token from {reference.registry}", True)
            )
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            return ChartError("Unauthorized", f"no token from {reference.registry}", True)
        lifetime = answer.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 60.0
        return f"Bearer {token}", self._clock() + max(seconds - TOKEN_MARGIN, 1.0)


async def _json_object(response: aiohttp.ClientResponse, problem: str) -> Any:
    """The response's body as a JSON object (at most MAX_JSON bytes), or a ChartError."""
    body = bytearray()

    async def keep(chunk: bytes) -> None:
        body.extend(chunk)

    size = await read_limited(response, MAX_JSON, keep)
    if isinstance(size, ChartError):
        return size
    try:
        loaded = json.loads(body)
    except ValueError:
        loaded = None
    if not isinstance(loaded, dict):
        return ChartError("IndexInvalid", problem, True)
    return loaded


def oci_registry(repository: str) -> str | None:
    """The registry (``host:port``) of an ``oci://`` repository; None for any other."""
    if not repository.strip().lower().startswith("oci://"):
        return None
    return repository.strip()[len("oci://") :].split("/", 1)[0] or None


def _next_link(header: str | None) -> str | None:
    """The URL of ``Link: <url>; rel="next"`` (tag list paging), if any."""
    if not header:
        return None
    found = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    return found.group(1) if found else None
