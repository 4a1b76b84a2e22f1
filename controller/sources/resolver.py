"""``ValuesResolver.compose``: the values of ``spec.valuesFrom`` and ``spec.values`` together.

Sources are read one after the other, in the spec's order, at each reconcile (nothing is
watched here); each is deep-merged over those before it (``controller.values.merge_values``:
maps merge key by key, anything else, lists included, is replaced), and ``spec.values``
over them all. The first source that cannot be used stops the composition with its
``SourceError``; the checks that need no I/O (a reference to another namespace when those
are turned off, a target path or chart file path that cannot work) come before any request.

An optional source is skipped, with a note naming it and why, as helm-operator skipped
it: when it is missing (the object, its key, the URL (404, 410) or the chart file does not
exist), when its content is not a YAML mapping, and, for a URL or a chart file, when it
cannot be read at all. A ConfigMap or Secret the API fails to answer for (other than "not
found") is an error even when optional: the API being down says nothing of the source.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from controller.api import ReleaseSpec, SourceKind, ValuesSource
from controller.kube.client import KubeClient
from controller.settings import SourceSettings
from controller.sources.chartfiles import chart_path_problem, read_chart_file
from controller.sources.content import parse_target_path, parse_values, value_at
from controller.sources.errors import Missing, SourceError, failure, name_of
from controller.sources.objects import read_key
from controller.sources.urls import SessionFactory, UrlReader, default_session
from controller.values import merge_values

UNREADABLE_SKIPPED: Final = frozenset({SourceKind.URL, SourceKind.CHART_FILE})
"""Kinds whose optional sources are skipped whatever kept them from being read."""
LARGE: Final = 16 << 10
"""Documents larger than this many bytes are parsed (and merged) in a thread."""


@dataclass(frozen=True)
class ComposedValues:
    """The values a release is made with, and the optional sources that were skipped."""

    values: Mapping[str, Any] = field(repr=False)  # never printed: values may hold secrets
    notes: tuple[str, ...] = ()
    """One per optional source that was missing: it is named, never shown."""


class ValuesResolver:
    """Reads the sources of values; ``close`` it (or use ``async with``) when done."""

    def __init__(
        self,
        client: KubeClient,
        settings: SourceSettings,
        *,
        session_factory: SessionFactory = default_session,
    ) -> None:
        """``session_factory`` makes the aiohttp session URLs are fetched with (on the
        first URL source): by default TLS is verified against the system's trust store."""
        self._client = client
        self._settings = settings
        self._urls = UrlReader(settings, session_factory)

    async def close(self) -> None:
        await self._urls.close()

    async def __aenter__(self) -> ValuesResolver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def compose(self, spec: ReleaseSpec, chart_path: Path) -> ComposedValues | SourceError:
        """``spec``'s values with its sources merged under them; ``chart_path`` is the
        packaged chart (.tgz) that ChartFile sources are read from."""
        targets = self._check(spec)
        if isinstance(targets, SourceError):
            return targets
        layers: list[Mapping[str, Any]] = []
        notes: list[str] = []
        size = 0
        for source, target in zip(spec.values_from, targets, strict=True):
            data = await self._read(source, spec, chart_path)
            if isinstance(data, SourceError):
                if source.optional and source.kind in UNREADABLE_SKIPPED:
                    notes.append(f"optional {data.message}: skipped")
                    continue
                return data
            if isinstance(data, Missing):
                if not source.optional:
                    return failure(source, data.reason, data.why)
                notes.append(f"optional {name_of(source)} {data.why}: skipped")
                continue
            values = await self._values(source, data, target)
            if isinstance(values, SourceError):
                if source.optional:
                    notes.append(f"optional {values.message}: skipped")
                    continue
                return values
            layers.append(values)
            size += len(data)
        layers.append(spec.values)
        merge = functools.partial(merge_values, layers)
        merged = await asyncio.to_thread(merge) if size > LARGE else merge()
        return ComposedValues(merged, tuple(notes))

    def _check(self, spec: ReleaseSpec) -> list[tuple[str, ...] | None] | SourceError:
        """Each source's target path, or the first source that cannot work whatever the
        cluster holds (no request is made for these)."""
        targets: list[tuple[str, ...] | None] = []
        for source in spec.values_from:
            namespace = source.namespace or spec.namespace
            if (
                source.kind in (SourceKind.CONFIG_MAP, SourceKind.SECRET)
                and namespace != spec.namespace
                and not self._settings.cross_namespace_refs
            ):
                problem = (
                    f"is in namespace {namespace}, not the HelmRelease's ({spec.namespace}): "
                    "references to other namespaces are turned off"
                )
                return failure(source, "CrossNamespaceRef", problem, retryable=False)
            if source.kind is SourceKind.URL and not _is_http(source.name):
                problem = "is not an http:// or https:// URL"
                return failure(source, "SourceInvalid", problem, retryable=False)
            if source.kind is SourceKind.CHART_FILE:
                chart_problem = chart_path_problem(source.name)
                if chart_problem is not None:
                    return failure(source, "SourceInvalid", chart_problem, retryable=False)
            target = None if source.target_path is None else parse_target_path(source.target_path)
            if isinstance(target, str):
                problem = f"has a targetPath that {target}"
                return failure(source, "SourceInvalid", problem, retryable=False)
            targets.append(target)
        return targets

    async def _read(
        self, source: ValuesSource, spec: ReleaseSpec, chart_path: Path
    ) -> bytes | Missing | SourceError:
        settings = self._settings
        if source.kind is SourceKind.URL:
            return await self._urls.read(source)
        if source.kind is SourceKind.CHART_FILE:
            return await self._chart_file(source, chart_path)
        namespace = source.namespace or spec.namespace
        return await read_key(
            self._client, source, namespace, timeout=settings.timeout, limit=settings.max_size
        )

    async def _chart_file(
        self, source: ValuesSource, chart_path: Path
    ) -> bytes | Missing | SourceError:
        timeout = self._settings.timeout
        read = functools.partial(read_chart_file, source, chart_path, self._settings.max_size)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.to_thread(read)
        except TimeoutError:
            problem = f"could not be read from the chart within {timeout:g}s"
            return failure(source, "SourceUnreachable", problem)

    async def _values(
        self, source: ValuesSource, data: bytes, target: tuple[str, ...] | None
    ) -> dict[str, Any] | SourceError:
        parse: Callable[[], dict[str, Any] | str]
        if target is None:
            parse = functools.partial(parse_values, data, max_nodes=self._settings.max_size)
        else:
            parse = functools.partial(value_at, target, data)
        values = await asyncio.to_thread(parse) if len(data) > LARGE else parse()
        if isinstance(values, str):
            # Content may be fixed in place (and is read again at the next attempt), but a
            # chart's files only change with its version, which is the spec's to change.
            retryable = source.kind is not SourceKind.CHART_FILE
            return failure(source, "SourceInvalid", values, retryable=retryable)
        return values


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
