"""Our finalizer on HelmReleases: added before the first helm call, removed after uninstall.

Both patches carry the resourceVersion they were computed from (the finalizer list
is replaced as a whole by a merge patch); on a conflict the object is read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.api import FINALIZER
from controller.kube.client import KubeClient, NotFound
from controller.status import patch_retrying


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    found = obj["metadata"].get("finalizers")
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []


def has_finalizer(obj: Mapping[str, Any]) -> bool:
    return FINALIZER in finalizers(obj)


async def add_finalizer(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` with our finalizer (patched in when missing); raises ApiError, NotFound too."""
    patched = await patch_retrying(client, obj, lambda current: _finalizers_patch(current, True))
    if patched is None:
        raise NotFound(404, "NotFound", "the HelmRelease was deleted")
    return patched


async def remove_finalizer(client: KubeClient, obj: Mapping[str, Any]) -> Mapping[str, Any]:
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
