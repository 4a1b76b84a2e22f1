"""Our finalizer on HelmReleases: added before the first helm call, removed after uninstall.

Both patches carry the resourceVersion they were computed from (the finalizer list
is replaced as a whole by a merge patch); on a conflict the object is read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api import FINALIZER
from controller.kube.client import Conflict, KubeClient, NotFound
from controller.status import CONFLICT_RETRIES, object_path


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    found = obj["metadata"].get("finalizers")
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []


def has_finalizer(obj: Mapping[str, Any]) -> bool:
    return FINALIZER in finalizers(obj)


async def add_finalizer(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` with our finalizer (patched in when missing); raises ApiError."""
    return await _patch_finalizers(client, obj, present=True)


async def remove_finalizer(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` without our finalizer (the object may be gone afterwards); raises ApiError."""
    return await _patch_finalizers(client, obj, present=False)


async def _patch_finalizers(
    client: KubeClient, obj: Mapping[str, Any], *, present: bool
) -> Mapping[str, Any]:
    current = obj
    for attempt in range(CONFLICT_RETRIES):
        names = finalizers(current)
        if (FINALIZER in names) == present:
            return current
        wanted = [*names, FINALIZER] if present else [n for n in names if n != FINALIZER]
        patch = {
            "metadata": {
                "finalizers": wanted,
                "resourceVersion": current["metadata"].get("resourceVersion"),
            }
        }
        try:
            return await client.request(
                "PATCH",
                object_path(current),
                body=patch,
                content_type="application/merge-patch+json",
            )
        except NotFound:
            if present:
                raise
            return current  # already gone: nothing left to hold
        except Conflict:
            if attempt == CONFLICT_RETRIES - 1:
                raise
        fresh = await client.get(object_path(current))
        if fresh is None:
            if present:
                raise NotFound(404, "NotFound", "the HelmRelease was deleted")
            return current
        current = fresh
    raise AssertionError("unreachable")  # pragma: no cover
