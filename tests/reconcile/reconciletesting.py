"""Helpers of the reconcile tests: a release index fed as the operator's watch feeds it."""

from __future__ import annotations

from apiserver import ApiServer
from apiserver.store import WatchEvent
from controller.releases import ReleaseIndex


def watched_index(api: ApiServer) -> ReleaseIndex:
    """A release index that every write of a release record reaches as it is stored, as
    the watch of helm's release Secrets would deliver it (tests still sync it by hand)."""
    index = ReleaseIndex()

    def feed(event: WatchEvent) -> None:
        labels = event.obj["metadata"].get("labels") or {}
        if event.resource.plural == "secrets" and labels.get("owner") == "helm":
            index.apply(event.type, event.obj)

    api.store.add_listener(feed)
    return index
