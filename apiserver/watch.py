"""Watch streams: fan-out of store events to many watchers, bookmarks, 410 and timeouts.

Each watcher owns a bounded deque filled synchronously by the store listener, so
a change reaches every watcher in the same event-loop step it happened in. A
watcher that falls more than ``max_pending`` events behind is closed; the client
re-watches from its last resourceVersion, as it would after a real server drops it.
A watch asking for PartialObjectMetadata gets every object (bookmarks included) as
its metadata alone. A watch asking for a Table gets each event's object as a one-row
Table; as on a real server, only the stream's first Table carries the column
definitions (clients keep them for the rows that follow), and bookmarks stay objects.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import Status, expired
from .resources import GroupResource, ResourceType, served
from .store import Store, WatchEvent, encode_event, meta, sort_key

Matcher = Callable[[dict[str, Any]], bool]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
WRITE_TIMEOUT = 30.0
"""Seconds a client may leave a watch write unread before the watch is closed."""
PARTIAL = "PartialObjectMetadata"
TableRenderer = Callable[[dict[str, Any]], dict[str, Any]]
"""Renders one object as a one-row meta.k8s.io Table with its column definitions."""


def partial_metadata(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """``obj`` as a meta.k8s.io PartialObjectMetadata: its metadata alone."""
    return {"kind": PARTIAL, "apiVersion": f"meta.k8s.io/{version}", "metadata": meta(obj)}


@dataclass(frozen=True)
class WatchOptions:
    """What one watch request asked for."""

    namespace: str | None
    matches: Matcher | None
    timeout: float | None
    bookmarks: bool
    send_initial_events: bool
    metadata_version: str | None = None
    """The meta.k8s.io version of PartialObjectMetadata to send; None: whole objects."""
    table: TableRenderer | None = None
    """Renders each event's object as a Table; None: objects as they are."""


class Watcher:
    """One open watch: pending event lines and a wake-up signal for its writer."""

    def __init__(self, resource_type: ResourceType, options: WatchOptions, max_pending: int):
        self.resource_type = resource_type
        self.options = options
        self.max_pending = max_pending
        self.pending: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.finished = asyncio.Event()
        """Set once the stream has ended and the watcher is unregistered."""
        self._columns_sent = False

    def offer(self, event: WatchEvent, *, bounded: bool = True) -> None:
        if self.closed:
            return
        event_type = self._visible_type(event)
        if event_type is None:
            return
        if event_type == event.type and self._as_stored(event.obj):
            self.pending.append(event.line)
        else:
            self.pending.append(self.event_line(event_type, event.obj))
        if bounded and len(self.pending) > self.max_pending:
            self.pending.clear()
            self.close()
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def event_line(self, event_type: str, obj: dict[str, Any]) -> bytes:
        """An ADDED, MODIFIED or DELETED event of ``obj`` in the form this watch asked for."""
        table = self.options.table
        if table is None:
            return encode_event(event_type, self.served(obj))
        rendered = table(obj)
        if self._columns_sent:
            del rendered["columnDefinitions"]
        self._columns_sent = True
        return encode_event(event_type, rendered)

    def served(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as this watch serves it: at its version (CRDs share storage across
        versions; an events.k8s.io Event is converted from the stored core one), or its
        metadata alone when that is what the watch asked for."""
        if self.options.metadata_version is not None:
            return partial_metadata(obj, self.options.metadata_version)
        if self._as_stored(obj):
            return obj
        return served(obj, self.resource_type)

    def _as_stored(self, obj: dict[str, Any]) -> bool:
        """Whether this watch serves ``obj`` exactly as stored (its event line can be reused)."""
        return (
            self.options.metadata_version is None
            and self.options.table is None
            and obj.get("apiVersion") == self.resource_type.api_version
        )

    def _visible_type(self, event: WatchEvent) -> str | None:
        """The event type this watcher sees; selectors turn moves in/out into ADDED/DELETED."""
        namespace = self.options.namespace
        if namespace is not None and meta(event.obj).get("namespace") != namespace:
            return None
        matches = self.options.matches
        if matches is None:
            return event.type
        now = matches(event.obj)
        if event.type != "MODIFIED":
            return event.type if now else None
        before = event.old is not None and matches(event.old)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None


class WatchHub:
    """Every open watcher, by resource, fed by one store listener."""

    def __init__(self, store: Store, *, max_pending: int = 10_000, bookmark_interval: float = 1.0):
        self.store = store
        self.max_pending = max_pending
        self.bookmark_interval = bookmark_interval
        self._watchers: dict[GroupResource, set[Watcher]] = {}
        store.add_listener(self._fan_out)

    def _fan_out(self, event: WatchEvent) -> None:
        for watcher in list(self._watchers.get(event.resource, ())):
            watcher.offer(event)

    def open_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    def open_watchers(self) -> list[Watcher]:
        return [watcher for watchers in self._watchers.values() for watcher in watchers]

    def cut_all(self) -> None:
        for watchers in self._watchers.values():
            for watcher in list(watchers):
                watcher.close()

    def open(
        self, resource_type: ResourceType, options: WatchOptions, since: int | None
    ) -> Watcher | Status:
        """Register a watcher and queue what it must replay (history or current state).

        ``since`` None means "start with the current state" (resourceVersion absent
        or "0", or sendInitialEvents). Replaying and registering happen in one
        synchronous step, so no change falls between them.
        """
        watcher = Watcher(resource_type, options, self.max_pending)
        resource = resource_type.group_resource
        if since is None:
            for obj in sorted(self.store.objects(resource, options.namespace), key=sort_key):
                if options.matches is None or options.matches(obj):
                    watcher.pending.append(watcher.event_line("ADDED", obj))
            if options.send_initial_events:
                watcher.pending.append(self._bookmark(watcher, initial_end=True))
        else:
            history = self.store.events_since(since)
            if history is None:
                return expired_status(since, self.store.history_floor)
            for event in history:
                if event.resource == resource:
                    watcher.offer(event, bounded=False)
        self._watchers.setdefault(resource, set()).add(watcher)
        return watcher

    def close(self, watcher: Watcher) -> None:
        watcher.close()
        watchers = self._watchers.get(watcher.resource_type.group_resource)
        if watchers is not None:
            watchers.discard(watcher)
        watcher.finished.set()

    def _bookmark(self, watcher: Watcher, *, initial_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        if initial_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {
            "kind": watcher.resource_type.kind,
            "apiVersion": watcher.resource_type.api_version,
            "metadata": metadata,
        }
        return encode_event("BOOKMARK", watcher.served(obj))

    async def stream(self, request: web.Request, watcher: Watcher) -> web.StreamResponse:
        """Write the watcher's events as JSON lines until timeout, close or disconnect."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await self._pump(response, watcher)
        except (ConnectionResetError, TimeoutError):
            pass  # the client went away or stopped reading: the watch is over
        finally:
            self.close(watcher)
        return response

    async def _pump(self, response: web.StreamResponse, watcher: Watcher) -> None:
        loop = asyncio.get_running_loop()
        timeout = watcher.options.timeout
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            await _write_all(response, _drain(watcher.pending))
            if watcher.closed:
                return
            wait = self.bookmark_interval if watcher.options.bookmarks else None
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return
                wait = left if wait is None else min(wait, left)
            watcher.wake.clear()
            if watcher.pending or watcher.closed:
                continue
            try:
                await asyncio.wait_for(watcher.wake.wait(), wait)
            except TimeoutError:
                if watcher.options.bookmarks and not watcher.pending:
                    watcher.pending.append(self._bookmark(watcher))


async def _write_all(response: web.StreamResponse, lines: Iterable[bytes]) -> None:
    chunk = b"".join(lines)
    if chunk:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await response.write(chunk)


def _drain(pending: deque[bytes]) -> list[bytes]:
    lines = list(pending)
    pending.clear()
    return lines


def expired_status(since: int, floor: int) -> Status:
    return expired(f"too old resource version: {since} ({floor})")


def error_event_line(status: Status) -> bytes:
    return encode_event("ERROR", status.body())
