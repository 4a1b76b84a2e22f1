"""``helmrelease-operator reconcile NAMESPACE/NAME``: an on-demand reconcile, asked of the
running operator as ``flux reconcile helmrelease`` asks helm-controller.

It only writes an annotation on the HelmRelease: ``reconcile.fluxcd.io/requestedAt`` (a
reconcile now; a spec that failed is tried once more) or, with ``--force``,
``reconcile.fluxcd.io/forceAt`` too (an upgrade even in sync). The operator's watch wakes
the HelmRelease at once; nothing here talks to the operator itself, so it works with any
replica leading. The HelmRelease is looked for in each served API, helm.fluxcd.io first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from controller import api
from controller.kube.client import NotFound, resource_path
from controller.settings import KubeSettings
from controller.startup import StartupError, check_kubeconfig, connect


async def request(settings: KubeSettings, namespace: str, name: str, *, force: bool) -> str:
    """Annotate HelmRelease ``namespace/name``; what was done, in one line. Raises
    ``StartupError`` when the cluster cannot be reached or there is no such HelmRelease."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations = {api.REQUESTED_AT_ANNOTATION: now}
    if force:
        annotations[api.FORCE_AT_ANNOTATION] = now
    target = await asyncio.to_thread(check_kubeconfig, settings)
    client = await connect(settings, target)
    try:
        for served in api.SERVED:
            path = resource_path(
                served.group, served.version, api.PLURAL, namespace=namespace, name=name
            )
            try:
                await client.request(
                    "PATCH",
                    path,
                    body={"metadata": {"annotations": annotations}},
                    content_type="application/merge-patch+json",
                )
            except NotFound:
                continue
            asked = ", ".join(f"{key}={value}" for key, value in annotations.items())
            which = f"{served.api_version} HelmRelease {namespace}/{name}"
            return f"asked for a reconcile of {which} ({asked})"
    finally:
        await client.close()
    apis = ", ".join(served.api_version for served in api.SERVED)
    raise StartupError(f"no HelmRelease {namespace}/{name} in {apis}")
