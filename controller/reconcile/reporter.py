"""Carries out reports for one HelmRelease: writes its status, posts its Events, logs.

It also follows the object as our own writes move it on (``obj``), and remembers which
resourceVersions those writes superseded (for ``kube.cache.OwnWrites``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, MutableMapping
from typing import Any, TypeVar

from controller import metrics
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import resource_version
from controller.kube.client import ApiError, KubeClient
from controller.outcome import Outcome
from controller.reconcile.background import in_background
from controller.reconcile.report import Report, Tell
from controller.status import (
    StatusUpdate,
    condition_statuses,
    emit_event,
    generation_of,
    write_status,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class _ReleaseLog(logging.LoggerAdapter[logging.Logger]):
    """Adds ``hr`` (and ``release`` once known) to every line, keeping the call's own extra."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class Reporter:
    def __init__(self, client: KubeClient, key: ObjectKey, obj: Mapping[str, Any]) -> None:
        self.client = client
        self.key = key
        self.obj = obj
        """The freshest object: as cached, then as our last write left it."""
        self.generation = generation_of(obj)
        """The generation of the spec acted on (``obj`` may move on after a conflict)."""
        self.superseded: set[str] = set()
        self.log = _ReleaseLog(log, {"hr": str(key)})

    def about(self, release: ReleaseKey) -> None:
        """From now on, log lines name the release too."""
        self.log = _ReleaseLog(log, {"hr": str(self.key), "release": str(release)})

    async def carry_out(self, report: Report, *, best_effort: bool = False) -> Report:
        """Write the report's status, post its Event and log its line.

        News is posted while the status is written (the two are independent); a standing
        problem (``Tell.ON_CHANGE``) is told only when the status changed. With
        ``best_effort``, a status write that fails is given up (the Event may still work).
        """
        if report.tell is Tell.ON_CHANGE:
            if await self.status(report.status, best_effort=best_effort):
                await self._tell(report)
            return report
        if report.event is None:  # only a log line: nothing to run beside the write
            await self._tell(report)
            await self.status(report.status, best_effort=best_effort)
            return report
        async with in_background(self._tell(report)) as told:
            await self.status(report.status, best_effort=best_effort)
            await told
        return report

    async def meanwhile(self, progress: StatusUpdate, work: Awaitable[T]) -> T:
        """``work``'s result (helm running), its ``progress`` written into the status
        meanwhile: the work does not wait for that write (a round trip to the API server),
        the report that follows does. A write that fails still fails the reconcile, once the
        work is done."""
        async with in_background(self.status(progress)) as shown:
            result = await work
            await shown
            return result

    def finished(self, report: Report, seconds: float) -> None:
        """The reconcile ended with ``report``: helm-operator's per-release metrics (the
        sync's duration and the conditions), about the release the status names."""
        status = self.obj.get("status")
        status = status if isinstance(status, Mapping) else {}
        namespace, name = status.get("targetNamespace"), status.get("releaseName")
        if not isinstance(namespace, str) or not isinstance(name, str):
            return  # no release yet (an invalid spec, say): nothing to label the series with
        if report.outcome == Outcome.forget():
            metrics.RELEASES.forget_conditions(namespace, name)
            return
        metrics.RELEASES.action("sync", report.result != "error", namespace, name, seconds)
        metrics.RELEASES.conditions(namespace, name, condition_statuses(status))

    async def status(self, update: StatusUpdate | None, *, best_effort: bool = False) -> bool:
        """Write ``update`` into the status; whether anything was written."""
        if update is None:
            return False
        before = resource_version(self.obj)
        try:
            written = await write_status(self.client, self.obj, update, generation=self.generation)
        except ApiError:
            if not best_effort:
                raise
            return False
        self.advance(written)
        return resource_version(self.obj) != before

    def advance(self, obj: Mapping[str, Any]) -> None:
        """Continue from ``obj``, the result of one of our writes."""
        before = resource_version(self.obj)
        if resource_version(obj) != before and before is not None:
            self.superseded.add(before)
        self.obj = obj

    async def _tell(self, report: Report) -> None:
        if report.log is not None:
            level, message = report.log
            extra = {"action": report.action} if report.action != "none" else {}
            self.log.log(level, "%s", message, extra=extra)
        if report.event is not None:
            await emit_event(self.client, self.obj, report.event)
