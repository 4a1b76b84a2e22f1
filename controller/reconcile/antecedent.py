"""Who helm-operator released a release for: the antecedent annotation on its resources.

helm-operator 1.x kept no owner on its release records; after every successful
install, upgrade or rollback it annotated every resource of the release's manifest
with ``helm.fluxcd.io/antecedent=<namespace>:helmrelease/<name>`` (releases of its
0.10 era carry ``flux.weave.works/antecedent`` instead), and decided ownership by
reading that annotation back from the live resources. ``Antecedents.read`` does the
same for a release that carries no owner labels of ours, within fixed bounds: the
release's latest record is decoded, the first ``MAX_RESOURCES`` resources its manifest
lists are read (their metadata only) and the distinct annotation values found are the
evidence ``state.assess`` decides on. Resource paths come from API discovery
(``kube.discovery``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from controller.kube.client import METADATA_ONLY_WATCH, KubeClient, NotFound, Unreachable
from controller.kube.discovery import Discovery
from controller.reconcile.manifest import declared_namespace, manifest_objects
from controller.releases import ObservedRelease, read_stored

log = logging.getLogger(__name__)

ANTECEDENT_ANNOTATIONS = ("helm.fluxcd.io/antecedent", "flux.weave.works/antecedent")
"""helm-operator 1.x's annotation, and the one of its 0.10 era (same value format)."""
MAX_RESOURCES = 8
"""Resources of a release read at most: helm-operator annotated all of them at once."""
READ_TIMEOUT = 30.0
"""Seconds all the reads for one release may take together."""
METADATA_ONLY = METADATA_ONLY_WATCH
"""Accept header asking for one object's metadata alone (no Secret or ConfigMap data)."""


@dataclass(frozen=True)
class ManifestResource:
    """One resource a release's manifest lists."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    """As the manifest says it (None: not said, the release namespace if namespaced)."""


def manifest_resources(manifest: str, limit: int = MAX_RESOURCES) -> list[ManifestResource]:
    """The first ``limit`` distinct resources a rendered manifest lists (the rest of it is
    not even parsed)."""
    found: dict[ManifestResource, None] = {}
    for obj in manifest_objects(manifest):
        name = obj["metadata"]["name"]
        found[ManifestResource(obj["apiVersion"], obj["kind"], name, declared_namespace(obj))] = (
            None
        )
        if len(found) >= limit:
            break
    return list(found)


class Antecedents:
    """Reads the antecedent annotations of releases' resources; one per process (it
    holds the discovery cache)."""

    def __init__(self, client: KubeClient, discovery: Discovery) -> None:
        self._client = client
        self._discovery = discovery

    async def read(self, observed: ObservedRelease) -> tuple[str, ...]:
        """The distinct antecedent values on the live resources of revision ``observed``
        (sorted; empty when there are none, or no resources, or no readable record).

        Raises ApiError when the API fails (``Unreachable`` when it takes longer than
        ``READ_TIMEOUT`` in all); resources that do not exist are skipped.
        """
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                return await self._read(observed)
        except TimeoutError:
            raise Unreachable(
                0,
                "Timeout",
                f"reading the resources of release {observed.key} took over {READ_TIMEOUT:g}s",
            ) from None

    async def _read(self, observed: ObservedRelease) -> tuple[str, ...]:
        try:
            stored = await read_stored(self._client, observed)
        except ValueError as error:
            log.info("release %s: no readable record: %s", observed.key, error)
            return ()
        if stored is None:
            return ()
        resources = await asyncio.to_thread(manifest_resources, stored.manifest)
        namespace = observed.key.namespace
        try:
            async with asyncio.TaskGroup() as reads:
                tasks = [reads.create_task(self._annotations(r, namespace)) for r in resources]
        except ExceptionGroup as failed:  # the first failure stands for all (ApiError)
            raise failed.exceptions[0] from None
        return tuple(sorted({value for task in tasks for value in task.result()}))

    async def _annotations(self, resource: ManifestResource, release_namespace: str) -> list[str]:
        located = await self._discovery.locate(
            resource.api_version,
            resource.kind,
            resource.name,
            resource.namespace or release_namespace,
        )
        if located is None:
            return []  # not served (any more): nothing of it can be read
        try:
            obj = await self._client.request("GET", located.path, accept=METADATA_ONLY)
        except NotFound:
            return []
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        if not isinstance(annotations, Mapping):
            return []
        values = (annotations.get(key) for key in ANTECEDENT_ANNOTATIONS)
        return [value for value in values if isinstance(value, str) and value]
