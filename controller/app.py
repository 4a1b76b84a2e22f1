"""The operator process: builds every stage, runs the root tasks, shuts down gracefully.

Root tasks (named): one watcher per HelmRelease API version, one watcher of helm's
release Secrets (metadata only) feeding the release index, the leader elector when
enabled, and the signal waiter. Workers reconcile keys from the queue. The first
root task to fail stops everything and the process exits non-zero; SIGTERM/SIGINT
drain in-flight reconciles within the grace period, then cancel them (the helm
runner kills its children: SIGTERM, then SIGKILL). A replica that stops leading
cancels its in-flight reconciles at once, before another replica may take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import signal
from collections.abc import Callable
from typing import Any

from controller import __version__, api, logs, metrics
from controller.charts import ChartFetcher
from controller.helm import HelmRunner, HelmUnavailable
from controller.http import caches_synced, make_app, serve
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.kube.client import KubeClient
from controller.kube.watching import WatchedResource, Watcher
from controller.leader import LeaderElector
from controller.queue import ReleaseLocks, WorkQueue
from controller.reconcile import Reconciler
from controller.releases import OWNER_SELECTOR, ReleaseIndex
from controller.settings import Settings, describe
from controller.workers import Workers

log = logging.getLogger(__name__)

SUPPORTED_API_VERSIONS = (api.API_VERSION,)
# How ``api.label_value`` ends a value it had to shorten: a dash and 12 hex digits.
_SHORTENED_LABEL = re.compile(r".+-[0-9a-f]{12}")


class StartupError(Exception):
    """A problem with the configuration or environment, reported without a traceback."""


def main(settings: Settings) -> int:
    logs.setup(settings.log.level, settings.log.format)
    try:
        return asyncio.run(run(settings))
    except StartupError as error:
        log.error("cannot start: %s", error)
        return 2


def wake_on_change_of_intent(
    cache: Cache, wake: Callable[[ObjectKey], None]
) -> Callable[[ObjectKey], None]:
    """A cache callback that wakes a HelmRelease only when what the user declared changed.

    The operator's own status writes come back through the watch; waking on them would
    make every failed attempt retry at once, defeating the backoff. Spec changes bump
    ``generation``; labels, annotations, finalizers and deletion are compared too.
    Our finalizer appearing wakes nothing: only a reconcile adds it, and that reconcile
    goes on (a wake would only repeat it). Our finalizer removed by someone else wakes
    the HelmRelease, so that it is put back.
    """
    seen: dict[ObjectKey, tuple[str, bool]] = {}

    def changed(key: ObjectKey) -> None:
        obj = cache.get(key)
        if obj is None:
            seen.pop(key, None)
            wake(key)
            return
        intent, ours = _intent(obj)
        before = seen.get(key)
        seen[key] = (intent, ours)
        if before is None or before[0] != intent or (before[1] and not ours):
            wake(key)

    return changed


def _intent(obj: dict[str, Any]) -> tuple[str, bool]:
    """A digest of what the user declared (our finalizer left out), and whether it is there."""
    metadata = obj.get("metadata", {})
    declared = {
        name: metadata.get(name)
        for name in ("generation", "labels", "annotations", "deletionTimestamp")
    }
    finalizers = metadata.get("finalizers")
    ours = isinstance(finalizers, list) and api.FINALIZER in finalizers
    if isinstance(finalizers, list):
        finalizers = [name for name in finalizers if name != api.FINALIZER] or None
    declared["finalizers"] = finalizers
    digest = hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()
    return digest, ours


def release_records(
    index: ReleaseIndex,
    releases: Cache,
    wake: Callable[[ObjectKey], None],
    in_flight: Callable[[ReleaseKey], bool],
) -> Cache:
    """A cache of helm's release Secrets whose changes keep ``index`` current.

    A changed record also wakes its owning HelmRelease (one of ``releases``), so a
    manual ``helm rollback`` is noticed at once rather than at the next resync. Not
    while a reconcile holds that release (``in_flight``): the records written then are
    its own helm's, which it reads itself once helm exits; a wake would only repeat it.
    """
    records = Cache()

    def changed(key: ObjectKey) -> None:
        secret = records.get(key)
        if secret is None:
            index.apply("DELETED", {"metadata": {"namespace": key.namespace, "name": key.name}})
            return
        index.apply("MODIFIED", secret)
        labels = secret.get("metadata", {}).get("labels", {})
        release = labels.get("name")
        if isinstance(release, str) and in_flight(ReleaseKey(key.namespace, release)):
            return
        owner_ns, owner = labels.get(api.OWNER_NAMESPACE_LABEL), labels.get(api.OWNER_NAME_LABEL)
        if isinstance(owner_ns, str) and isinstance(owner, str):
            for release in owners(releases, owner_ns, owner):
                wake(release)

    records.set_on_change(changed)
    return records


def owners(releases: Cache, namespace_label: str, name_label: str) -> list[ObjectKey]:
    """The cached HelmReleases whose owner labels have these values.

    Owner labels hold names shortened to fit a label (``api.label_value``); a value that
    may be a shortened one is matched by shortening the cached names the same way.
    """
    exact = ObjectKey(api.GROUP, namespace_label, name_label)
    if exact in releases:
        return [exact]
    if not _SHORTENED_LABEL.fullmatch(name_label):
        return []
    return [
        key
        for key in releases
        if api.label_value(key.name) == name_label
        and api.label_value(key.namespace) == namespace_label
    ]


async def run(settings: Settings) -> int:
    unsupported = set(settings.watch.api_versions) - set(SUPPORTED_API_VERSIONS)
    if unsupported:
        raise StartupError(
            f"unsupported HelmRelease API versions {sorted(unsupported)}; "
            f"supported: {list(SUPPORTED_API_VERSIONS)}"
        )
    log.info(
        "helmrelease-operator %s starting with %s", __version__, json.dumps(describe(settings))
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            return await _operate(settings, stack, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _operate(
    settings: Settings, stack: contextlib.AsyncExitStack, stop: asyncio.Event
) -> int:
    client = await KubeClient.create(settings.kube)
    stack.push_async_callback(client.close)
    runner = HelmRunner(settings.helm, client.helm_env())
    stack.push_async_callback(runner.close)
    try:
        major, helm_version = await runner.version()
    except HelmUnavailable as error:
        raise StartupError(str(error)) from None
    metrics.BUILD_INFO.info({"version": __version__, "helm_version": helm_version})
    log.info("using helm %s (major %d) at %s", helm_version, major, settings.helm.helm_bin)
    charts = ChartFetcher(settings.charts)
    stack.push_async_callback(charts.close)

    queue: WorkQueue[ObjectKey] = WorkQueue(settings.queue)
    releases = Cache()
    releases.set_on_change(wake_on_change_of_intent(releases, queue.add))
    index = ReleaseIndex()
    locks = ReleaseLocks()
    records = release_records(index, releases, queue.add, locks.is_held)
    release_secrets = WatchedResource(
        "", "v1", "secrets", settings.watch.namespace, OWNER_SELECTOR, metadata_only=True
    )
    watchers = [
        Watcher(client, _helmreleases(settings), releases, settings.watch),
        # strip: a server that cannot serve metadata alone sends whole Secrets.
        Watcher(client, release_secrets, records, settings.watch, transform=ReleaseIndex.strip),
    ]
    reconciler = Reconciler(releases, client, charts, runner, index, locks, settings)
    workers = Workers(queue, reconciler, settings.queue, paused=settings.leader.enabled)

    app = make_app(caches_synced({"helmreleases": releases, "release-records": records}))
    bound = await stack.enter_async_context(serve(app, settings.http.listen))
    log.info("serving /metrics, /healthz and /readyz on %s", bound)

    roots: dict[asyncio.Task[Any], str] = {
        asyncio.create_task(w.run(), name=f"watch-{i}"): f"watcher {i}"
        for i, w in enumerate(watchers)
    }
    if settings.leader.enabled:
        elector = LeaderElector(
            client,
            settings.leader,
            on_started_leading=workers.resume,
            on_stopped_leading=lambda: stop_leading(workers),
        )
        roots[asyncio.create_task(elector.run(), name="leader-election")] = "leader election"
    else:
        metrics.LEADER.set(1)  # the only replica: it does all the work
    workers.start()
    stopper = asyncio.create_task(stop.wait(), name="signals")
    try:
        done, _ = await asyncio.wait({*roots, stopper}, return_when=asyncio.FIRST_COMPLETED)
        failed = [task for task in done if task is not stopper]
        for task in failed:
            problem = None if task.cancelled() else task.exception()
            log.error(
                "%s stopped unexpectedly: %r; shutting down", roots[task], problem, exc_info=problem
            )
        if not failed:
            log.info(
                "shutting down: draining in-flight reconciles (grace %.0fs)",
                settings.queue.shutdown_grace,
            )
        await workers.drain(settings.queue.shutdown_grace)
        queue.shutdown()
        return 1 if failed else 0
    finally:
        # The elector releases the Lease as it is cancelled, after the workers drained,
        # so the next leader never overlaps with our in-flight helm processes.
        for task in (*roots, stopper):
            task.cancel()
        await asyncio.gather(*roots, stopper, return_exceptions=True)
        log.info("stopped")


def _helmreleases(settings: Settings) -> WatchedResource:
    group, version = api.API_VERSION.split("/")
    return WatchedResource(
        group, version, api.PLURAL, settings.watch.namespace, settings.watch.label_selector
    )


def stop_leading(workers: Workers) -> None:
    """What a replica does on losing the Lease: stop working at once, in-flight work too.

    Another replica may take over once the Lease expires; a helm process of ours still
    running then would race with its own.
    """
    workers.pause()
    workers.cancel_in_flight()
    # A former leader must not keep exporting stale per-release state.
    metrics.RELEASE_READY.clear()
    metrics.RELEASE_LAST_RECONCILE.clear()
