"""What the operator watches, and the caches those watches fill.

One raw list+watch per served HelmRelease API, all into one cache (keys carry the
group); one of helm's release Secrets (metadata only) feeding the release index; one each
of ConfigMaps and Secrets (metadata only), keeping only those a HelmRelease reads values
from; and, started as drift checks need them, those of the objects of releases under drift
detection (``controller.driftwatch``). The wake rules of ``controller.wakes`` turn their
changes into keys for the queue, in one of its lanes: a change of intent (a
HelmRelease's spec, labels or annotations, a values source, a release record someone else
wrote, a dependency becoming Ready, a drift-checked object) into the intent lane, served
ahead of bulk work; an object seen for the first time (listed, or created) into the bulk
lane; so are the HelmReleases of a chart whose fetch outlasted their reconcile's wait, once
it ends. Git chart sources cannot be watched: ``poll_git`` polls them
(``--git-poll-interval``), waking releases as bulk work.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller import api
from controller.charts.git import GitCharts
from controller.driftwatch import DriftWatches, forget_when_off
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.kube.client import KubeClient
from controller.kube.watching import WatchedResource, Watcher, share_strings
from controller.queue import Lane, WorkQueue
from controller.releases import OWNER_SELECTOR, ReleaseIndex
from controller.settings import WatchSettings
from controller.wakes import (
    SourceIndex,
    each,
    identity,
    release_records,
    track_sources,
    values_sources,
    wake_dependants,
    wake_on_change_of_intent,
    wake_on_chart_fetched,
)

SOURCE_KINDS = {api.SourceKind.CONFIG_MAP: "configmaps", api.SourceKind.SECRET: "secrets"}
"""The kinds of values sources that are watched, and their resources."""


@dataclass(frozen=True)
class Watches:
    releases: Cache
    """The HelmReleases of every served API."""
    index: ReleaseIndex
    """helm's release records, as the watch of their Secrets keeps them."""
    watchers: list[Watcher]
    caches: dict[str, Cache]
    """Every cache by name: the operator is ready once each has been listed."""
    drift: DriftWatches
    """The watches of the objects drift checks compare (started as they are needed)."""
    chart_fetched: Callable[[api.ChartSpec], None]
    """Wakes the HelmReleases of a chart whose fetch outlasted their reconcile's wait."""


def watches(
    client: KubeClient,
    settings: WatchSettings,
    apis: Sequence[api.ServedApi],
    queue: WorkQueue[ObjectKey],
    helm_running: Callable[[ReleaseKey], bool],
) -> Watches:
    """The watches of the served ``apis``, their caches wired to wake HelmReleases into
    the ``queue``'s lanes; ``helm_running`` tells when a release record change is our own
    helm's."""
    wake = functools.partial(queue.add, lane=Lane.INTENT)
    bulk = functools.partial(queue.add, lane=Lane.BULK)
    releases = Cache(groups=[served.group for served in apis])
    drift = DriftWatches(client, settings, wake)
    source_index = SourceIndex()
    sources = {kind: values_sources(source_index, kind, wake, bulk) for kind in SOURCE_KINDS}
    releases.set_on_change(
        each(
            [
                track_sources(source_index, releases, sources),
                wake_on_change_of_intent(releases, wake, bulk),
                wake_dependants(releases, wake, bulk),
                forget_when_off(releases, drift),
            ]
        )
    )
    index = ReleaseIndex()
    records = release_records(
        index, releases, wake, helm_running, bulk, reconciling=queue.is_processing
    )
    release_secrets = WatchedResource(
        "", "v1", "secrets", settings.namespace, OWNER_SELECTOR, metadata_only=True
    )
    watchers = [
        *(
            Watcher(client, resource, releases, settings, transform=share_strings)
            for resource in _helmreleases(settings, apis)
        ),
        # strip: a server that cannot serve metadata alone sends whole Secrets.
        Watcher(client, release_secrets, records, settings, transform=_stripped),
        *(
            Watcher(
                client,
                WatchedResource("", "v1", plural, settings.namespace, metadata_only=True),
                sources[kind],
                settings,
                transform=identity,
            )
            for kind, plural in SOURCE_KINDS.items()
        ),
    ]
    caches = {
        "helmreleases": releases,
        "release-records": records,
        **{SOURCE_KINDS[kind]: cache for kind, cache in sources.items()},
    }
    fetched = wake_on_chart_fetched(releases, bulk)
    return Watches(releases, index, watchers, caches, drift, fetched)


def _stripped(secret: dict[str, Any]) -> dict[str, Any]:
    """A release Secret as cached: identity and labels (no payload), strings shared."""
    return share_strings(ReleaseIndex.strip(secret))


def _helmreleases(settings: WatchSettings, apis: Sequence[api.ServedApi]) -> list[WatchedResource]:
    """One watch per served HelmRelease API, all into the same cache, queue and workers."""
    return [
        WatchedResource(
            served.group, served.version, api.PLURAL, settings.namespace, settings.label_selector
        )
        for served in apis
    ]


async def poll_git(
    releases: Cache, git: GitCharts, queue: WorkQueue[ObjectKey], interval: float
) -> None:
    """Every ``interval`` seconds, a new poll of the git chart sources: their refs are
    resolved again, and each HelmRelease with a git chart is woken (bulk work) to look (one
    ``ls-remote`` per repository and ref however many read it; helm only runs for those
    whose chart directory changed)."""
    while True:
        await asyncio.sleep(interval)
        git.refresh()
        for key in list(releases):
            obj = releases.get(key)
            if obj is not None and _git_chart(obj):
                queue.add(key, Lane.BULK)


def _git_chart(obj: Mapping[str, Any]) -> bool:
    spec = obj.get("spec")
    chart = spec.get("chart") if isinstance(spec, Mapping) else None
    return isinstance(chart, Mapping) and chart.get("git") is not None
