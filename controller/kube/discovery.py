"""Where the objects of a kind live: API discovery (the plural of a kind and whether it is
namespaced), cached per group-version for the life of the process."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from controller.kube.client import KubeClient, NotFound, resource_path

DISCOVERY_REFRESH = 60.0
"""A kind missing from a cached group-version is looked up again after this many seconds
(a CRD installed since); a group-version is never asked for more often."""


@dataclass(frozen=True)
class ServedKind:
    plural: str
    namespaced: bool


@dataclass(frozen=True)
class Located:
    """Where one object lives: its kind's resource, its namespace (None: cluster-scoped)
    and name."""

    group: str
    version: str
    plural: str
    namespace: str | None
    name: str

    @property
    def namespaced(self) -> bool:
        return self.namespace is not None

    @property
    def path(self) -> str:
        return resource_path(
            self.group, self.version, self.plural, namespace=self.namespace, name=self.name
        )


class Discovery:
    """Plural and scope of kinds, from the API server's discovery; one per process."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._kinds: dict[str, tuple[float, dict[str, ServedKind]]] = {}  # by group-version

    async def locate(
        self, api_version: str, kind: str, name: str, namespace: str
    ) -> Located | None:
        """The path of object ``name`` of ``kind`` (in ``namespace`` when the kind is
        namespaced); None when the kind is not served. Raises ApiError."""
        served = await self.kind(api_version, kind)
        if served is None:
            return None
        group, _, version = api_version.rpartition("/")
        scope = namespace if served.namespaced else None
        return Located(group, version, served.plural, scope, name)

    async def kind(self, api_version: str, kind: str) -> ServedKind | None:
        """Plural and scope of ``kind`` in ``api_version``, from (cached) discovery."""
        cached = self._kinds.get(api_version)
        now = time.monotonic()
        if cached is not None and (kind in cached[1] or now - cached[0] < DISCOVERY_REFRESH):
            return cached[1].get(kind)
        kinds = await self._discover(api_version)
        self._kinds[api_version] = (now, kinds)
        return kinds.get(kind)

    async def _discover(self, api_version: str) -> dict[str, ServedKind]:
        group, _, version = api_version.rpartition("/")
        if not version or api_version.count("/") > 1 or (group == "" and "/" in api_version):
            return {}
        parts = ("api", version) if not group else ("apis", group, version)
        path = "/" + "/".join(quote(part, safe="") for part in parts)
        try:
            listing = await self._client.request("GET", path)
        except NotFound:
            return {}
        resources = listing.get("resources")
        kinds: dict[str, ServedKind] = {}
        for entry in resources if isinstance(resources, list) else ():
            if not isinstance(entry, Mapping):
                continue
            plural, kind = entry.get("name"), entry.get("kind")
            if isinstance(plural, str) and "/" not in plural and isinstance(kind, str):
                kinds.setdefault(kind, ServedKind(plural, entry.get("namespaced") is True))
        return kinds
