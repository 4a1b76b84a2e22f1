"""Raw list + watch of one resource, feeding a ``Cache``; never loses a change.

One ``Watcher`` runs a reconnect loop: LIST (paginated) into the cache, then
WATCH from the list's resourceVersion, following bookmarks, until the stream
ends. A clean end re-watches from the last resourceVersion seen; 410 Expired
(an HTTP 410 or an ERROR event) relists, and the cache diff turns objects
deleted meanwhile into deletions. Errors reconnect after a jittered exponential
backoff (Retry-After wins when the server sent one); a stream silent for longer
than the inactivity timeout counts as dead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller import metrics
from controller.keys import ObjectKey
from controller.kube.cache import Cache, resource_version
from controller.kube.client import (
    METADATA_ONLY_LIST,
    METADATA_ONLY_WATCH,
    ApiError,
    KubeClient,
    error_for,
    resource_path,
    retry_delay,
)
from controller.settings import WatchSettings

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 500
EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class WatchedResource:
    """What to watch: a resource, in one namespace or all, optionally by label selector.

    ``metadata_only`` asks the server for the objects' metadata alone (PartialObjectMetadata):
    neither the server nor we spend time on payloads that are never read.
    """

    group: str
    version: str
    plural: str
    namespace: str | None = None
    label_selector: str | None = None
    metadata_only: bool = False

    @property
    def path(self) -> str:
        return resource_path(self.group, self.version, self.plural, self.namespace)

    def __str__(self) -> str:
        where = self.namespace or "all namespaces"
        return f"{self.plural}.{self.group or 'core'}/{self.version} in {where}"


class Expired(Exception):
    """The watch's resourceVersion is too old: relist."""


class Backoff:
    """Jittered exponential delays between ``initial`` and ``maximum``; ``reset`` after success."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self._initial = initial
        self._maximum = maximum
        self._rng = rng
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._maximum)
        return delay * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._next = self._initial


def drop_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what only costs memory: managedFields and kubectl's last-applied copy."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
    return obj


SHARED_UP_TO = 40
"""Strings at most this long are shared between cached objects (``share_strings``)."""


def share_strings(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with its short strings shared (``sys.intern``) with every other object's.

    Condition types, statuses, reasons and timestamps, API versions, finalizers, chart
    names and versions repeat across thousands of HelmReleases: a copy of each per object
    is a third of what a cached HelmRelease costs. Walked without recursion: an object may
    be nested as deep as its server allows. Longer strings that repeat within the object
    are shared too."""
    longer: dict[str, str] = {}
    stack: list[Any] = [obj]
    while stack:
        node = stack.pop()
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:  # values replaced in place, keys kept: allowed
            if isinstance(value, str):
                node[key] = _shared(value, longer)
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return obj


def _shared(text: str, longer: dict[str, str]) -> str:
    """A short string interned; a longer one shared within its object only (a message
    that two conditions carry, say): longer ones are seldom the same in two objects."""
    if len(text) <= SHARED_UP_TO:
        return sys.intern(text)
    return longer.setdefault(text, text)


class Watcher:
    """Keeps ``cache`` equal to the server's objects of ``resource``; run it as a task."""

    def __init__(
        self,
        client: KubeClient,
        resource: WatchedResource,
        cache: Cache,
        settings: WatchSettings,
        *,
        transform: Transform | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._resource = resource
        self._cache = cache
        self._settings = settings
        self._transform = transform
        self._backoff = Backoff(
            settings.backoff_initial, settings.backoff_max, rng or random.Random()
        )
        self.resource_version: str | None = None
        """The last resourceVersion seen; None until listed and after a 410."""

    async def run(self) -> None:
        """List and watch until cancelled."""
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                healthy = await self._watch()
            except Expired:
                metrics.WATCH_RESTARTS.labels(reason="expired").inc()
                log.info("watch of %s expired; relisting", self._resource)
                self.resource_version = None
            except TimeoutError:
                metrics.WATCH_RESTARTS.labels(reason="timeout").inc()
                log.warning("watch of %s silent too long; reconnecting", self._resource)
                await asyncio.sleep(self._backoff.next())
            except ApiError as error:
                metrics.WATCH_RESTARTS.labels(reason="error").inc()
                delay = self._backoff.next()
                if error.retry_after is not None:
                    delay = max(delay, retry_delay(error))
                log.warning(
                    "watch of %s failed (%s); retrying in %.1fs", self._resource, error, delay
                )
                await asyncio.sleep(delay)
            else:
                metrics.WATCH_RESTARTS.labels(reason="closed").inc()
                if healthy:
                    self._backoff.reset()
                else:  # closed without a single event: don't spin on a server that hangs up
                    await asyncio.sleep(self._backoff.next())

    async def _list(self) -> None:
        """List every object (page by page) into the cache; remember the list's version."""
        objects: list[tuple[ObjectKey, dict[str, Any]]] = []
        version: str | None = None  # of the first page: later pages share it on a real server
        params = {"limit": str(LIST_PAGE_SIZE)}
        if self._resource.label_selector:
            params["labelSelector"] = self._resource.label_selector
        while True:
            page = await self._client.request(
                "GET",
                self._resource.path,
                params=params,
                accept=METADATA_ONLY_LIST if self._resource.metadata_only else None,
            )
            for item in page.get("items") or []:
                if (entry := self._keyed(item)) is not None:
                    objects.append(entry)
            metadata = page.get("metadata") or {}
            if version is None:
                version = str(metadata.get("resourceVersion") or "")
            token = metadata.get("continue")
            if not token:
                break
            params["continue"] = token
        self._cache.replace(self._resource.group, objects)
        self.resource_version = version
        log.info("listed %d %s", len(objects), self._resource)

    async def _watch(self) -> bool:
        """Watch from ``resource_version`` until the stream ends; True if any event arrived."""
        params = {
            "resourceVersion": self.resource_version or "",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._settings.watch_timeout),
        }
        if self._resource.label_selector:
            params["labelSelector"] = self._resource.label_selector
        received = False
        inactivity = self._settings.inactivity_timeout
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(inactivity) as deadline:
                accept = METADATA_ONLY_WATCH if self._resource.metadata_only else None
                stream = self._client.watch_stream(self._resource.path, params, accept=accept)
                async with stream as events:
                    async for event in events:
                        deadline.reschedule(loop.time() + inactivity)
                        self._handle(event)
                        received = True
        except ApiError as error:
            if error.status == 410:
                raise Expired from error
            raise
        return received

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if kind not in EVENT_TYPES or not isinstance(obj, dict):
            log.debug("ignoring a malformed watch event")
            return
        metrics.WATCH_EVENTS.labels(type=kind).inc()
        metrics.WATCH_LAST_EVENT.set_to_current_time()
        if kind == "ERROR":
            raise _error_event(obj)
        version = resource_version(obj)
        if kind != "BOOKMARK" and (entry := self._keyed(obj)) is not None:
            if kind == "DELETED":
                self._cache.delete(entry[0])
            else:
                self._cache.put(*entry)
        if version:
            self.resource_version = version

    def _keyed(self, obj: dict[str, Any]) -> tuple[ObjectKey, dict[str, Any]] | None:
        """The object's key and its transformed self, or None for a nameless object."""
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(metadata, dict) or not isinstance(name, str) or not name:
            log.warning("ignoring a %s without a name", self._resource)
            return None
        key = ObjectKey(self._resource.group, str(metadata.get("namespace") or ""), name)
        obj = drop_bookkeeping(obj)
        if self._transform is not None:
            obj = self._transform(obj)
        return key, obj


def _error_event(status: dict[str, Any]) -> ApiError:
    """The ApiError carried by an ERROR watch event (a Status object)."""
    code = status.get("code")
    return error_for(
        code if isinstance(code, int) else 500,
        str(status.get("reason") or "WatchError"),
        str(status.get("message") or ""),
    )
