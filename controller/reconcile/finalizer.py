"""Our finalizer on HelmReleases: added before the first helm call, removed after uninstall.

``released`` and ``removed`` are the reports of a deleted HelmRelease let go: one
that was never ours to hold, and one whose release is gone.

Both patches carry the resourceVersion they were computed from (the finalizer list
is replaced as a whole by a merge patch); on a conflict the object is read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from controller.api import FINALIZER
from controller.kube.client import KubeClient, NotFound
from controller.outcome import Outcome
from controller.reconcile.report import Report
from controller.status import patch_retrying


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    found = obj["metadata"].get("finalizers")
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []


def present(obj: Mapping[str, Any]) -> bool:
    return FINALIZER in finalizers(obj)


def ensured(client: KubeClient, obj: Mapping[str, Any]) -> Awaitable[Mapping[str, Any]]:
    """``add``; when our finalizer is there already, ``obj`` at once (a future already
    done: no task, no request), as for every release in sync."""
    if not present(obj):
        return add(client, obj)
    done: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
    done.set_result(obj)
    return done


async def add(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` with our finalizer (patched in when missing); raises ApiError, NotFound too."""
    patched = await patch_retrying(client, obj, lambda current: _finalizers_patch(current, True))
    if patched is None:
        raise NotFound(404, "NotFound", "the HelmRelease was deleted")
    return patched


async def remove(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` without our finalizer (the object may be gone afterwards); raises ApiError."""
    patched = await patch_retrying(client, obj, lambda current: _finalizers_patch(current, False))
    return patched if patched is not None else obj  # already gone: nothing left to hold


def _finalizers_patch(current: Mapping[str, Any], present: bool) -> dict[str, Any] | None:
    """The patch that adds (``present``) or removes our finalizer; None when already so."""
    names = finalizers(current)
    if (FINALIZER in names) == present:
        return None
    wanted = [*names, FINALIZER] if present else [name for name in names if name != FINALIZER]
    return {"metadata": {"finalizers": wanted}}


def released() -> Report:
    """A deleted HelmRelease without our finalizer: nothing of ours to do."""
    return Report(outcome=Outcome.forget())


def removed() -> Report:
    """A deleted HelmRelease whose release is gone (or never was) is let go."""
    return Report(
        outcome=Outcome.forget(),
        action="uninstall",
        result="success",
        log=(logging.INFO, "finalizer removed"),
    )
