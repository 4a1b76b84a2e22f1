"""Helm's release records, read through the Kubernetes API without starting helm.

Helm stores every revision of a release as a Secret ``sh.helm.release.v1.<name>.v<rev>``
(type ``helm.sh/release.v1``) in the release namespace, labelled ``owner=helm``,
``name``, ``status``, ``version`` (the revision), ``createdAt``/``modifiedAt`` (unix
seconds) and the custom labels given with ``--labels``. ``data.release`` holds the
release: JSON, gzipped, base64-encoded by helm, and base64-encoded again as Secret data.

:class:`ReleaseIndex` keeps the latest revision of every release from a watch of those
Secrets (metadata only: :meth:`ReleaseIndex.strip` drops the payloads before caching);
:func:`read_release` asks the API directly (also for the revision deployed now, which is
what a rollback goes back to); :func:`read_stored` reads one revision
whole (what it holds: chart, user-supplied values, manifest); :func:`relabel` rewrites a
record's custom labels (helm keeps a release's ``--labels`` on its Secret only, so this
is what ``--labels`` would have written); :func:`mark_failed` unlocks a release left in
``pending-*`` by an interrupted helm, as ``helm`` itself would have recorded a failure,
so that the next upgrade or rollback is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from controller.keys import ReleaseKey
from controller.kube.client import METADATA_ONLY_LIST, Conflict, KubeClient, resource_path
from controller.values import decode_json

OWNER_SELECTOR = "owner=helm"
"""Label selector of every helm release Secret."""

HELM_LABELS = frozenset({"owner", "name", "status", "version", "createdAt", "modifiedAt"})
"""Labels helm sets itself; every other label on a record is a custom (``--labels``) one."""

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ObservedRelease:
    """One revision of a release as recorded by helm (its Secret's labels)."""

    key: ReleaseKey
    revision: int
    status: str
    """``deployed``, ``failed``, ``superseded``, ``pending-install``, ``uninstalling``..."""

    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Custom labels only (helm's own labels removed)."""

    created_at: float | None = None
    """Unix seconds when the API server stored this revision (its Secret's
    ``creationTimestamp``): when a ``pending-*`` revision's operation started, since helm
    creates every revision pending. (helm's ``createdAt``/``modifiedAt`` labels cannot
    tell: helm copies them from the revision before.)"""

    @property
    def secret_name(self) -> str:
        return f"sh.helm.release.v1.{self.key.name}.v{self.revision}"

    @property
    def pending(self) -> bool:
        """A helm operation started and has not recorded its end."""
        return self.status.startswith("pending-")


def observe(secret: Mapping[str, Any]) -> ObservedRelease | None:
    """The release revision a helm Secret records; None for anything else."""
    metadata = secret.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    namespace = metadata.get("namespace")
    labels = metadata.get("labels")
    if not isinstance(namespace, str) or not isinstance(labels, Mapping):
        return None
    name, status, version = labels.get("name"), labels.get("status"), labels.get("version")
    if labels.get("owner") != "helm" or not isinstance(name, str) or not isinstance(status, str):
        return None
    revision = _decimal(version)
    if revision is None or revision < 1:
        return None
    return ObservedRelease(
        key=ReleaseKey(namespace, name),
        revision=revision,
        status=status,
        labels=MappingProxyType(
            {k: str(v) for k, v in labels.items() if k not in HELM_LABELS and isinstance(k, str)}
        ),
        created_at=_unix_of_timestamp(metadata.get("creationTimestamp")),
    )


def _decimal(text: Any) -> int | None:
    if isinstance(text, str) and text.isascii() and text.isdigit():
        return int(text)
    return None


def _unix_of_timestamp(text: Any) -> float | None:
    """Unix seconds of an RFC 3339 time as the API server writes it; None if it is not."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


_Waiter = tuple[Callable[[ObservedRelease | None], bool], asyncio.Future[ObservedRelease]]
"""One wait for a record (``ReleaseIndex.until``): what it takes, and the future it gets."""


class ReleaseIndex:
    """Latest revision of every release, fed by a watch of helm's release Secrets."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], ObservedRelease] = {}  # by (namespace, Secret)
        self._by_release: dict[ReleaseKey, set[tuple[str, str]]] = {}
        self.listed = asyncio.Event()
        """Set once the watch feeding the index has listed every record: from then on, a
        release the index does not know was made at most the watch's lag ago."""
        self._waiting: dict[ReleaseKey, list[_Waiter]] = {}

    @staticmethod
    def strip(secret: Mapping[str, Any]) -> dict[str, Any]:
        """What the watcher caches of a release Secret: identity, labels and creation
        time, no payload."""
        metadata = secret.get("metadata")
        if not isinstance(metadata, Mapping):
            return {"metadata": {}}
        kept = ("name", "namespace", "labels", "resourceVersion", "creationTimestamp")
        return {"metadata": {key: metadata[key] for key in kept if key in metadata}}

    def apply(self, event_type: str, secret: Mapping[str, Any]) -> bool:
        """One watch event (ADDED, MODIFIED, DELETED; anything else is ignored); whether
        its record is one somebody was waiting for (``until``)."""
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return False
        identity = _identity(secret)
        if identity is None:
            return False
        self._forget(identity)
        if event_type == "DELETED":
            return False
        observed = self._remember(identity, secret)
        return observed is not None and self._hand_over(observed.key)

    def latest(self, key: ReleaseKey) -> ObservedRelease | None:
        """The highest revision recorded for a release, if any."""
        identities = self._by_release.get(key, ())
        records = (self._records[identity] for identity in identities)
        return max(records, key=lambda record: record.revision, default=None)

    async def until(
        self,
        key: ReleaseKey,
        found: Callable[[ObservedRelease | None], bool],
        within: float,
    ) -> ObservedRelease | None:
        """The latest record of ``key`` once ``found`` takes it, as the watch delivers
        records; None when none it takes arrived within ``within`` seconds."""
        latest = self.latest(key)
        if found(latest):
            return latest
        if within <= 0:
            return None
        taken: asyncio.Future[ObservedRelease] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(key, [])
        waiters.append((found, taken))
        try:
            async with asyncio.timeout(within):
                return await taken
        except TimeoutError:
            return None
        finally:
            waiters.remove((found, taken))
            if not waiters:
                del self._waiting[key]

    def _hand_over(self, key: ReleaseKey) -> bool:
        """Give the latest record of ``key`` to those waiting who take it; whether any did."""
        latest = self.latest(key)
        handed = False
        for found, taken in self._waiting.get(key, ()):
            if not taken.done() and found(latest):
                assert latest is not None  # never taken: found() refuses None
                taken.set_result(latest)
                handed = True
        return handed

    def _remember(
        self, identity: tuple[str, str], secret: Mapping[str, Any]
    ) -> ObservedRelease | None:
        observed = observe(secret)
        if observed is not None:
            self._records[identity] = observed
            self._by_release.setdefault(observed.key, set()).add(identity)
        return observed

    def _forget(self, identity: tuple[str, str]) -> None:
        observed = self._records.pop(identity, None)
        if observed is None:
            return
        identities = self._by_release[observed.key]
        identities.discard(identity)
        if not identities:
            del self._by_release[observed.key]


def _identity(secret: Mapping[str, Any]) -> tuple[str, str] | None:
    metadata = secret.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if isinstance(namespace, str) and isinstance(name, str):
        return namespace, name
    return None


# --- the API ---------------------------------------------------------------------------


async def read_release(
    client: KubeClient, key: ReleaseKey, status: str | None = None
) -> ObservedRelease | None:
    """The latest revision of a release (in ``status``, if given), read fresh from the API
    (None: there is none)."""
    selector = f"{OWNER_SELECTOR},name={key.name}" + (f",status={status}" if status else "")
    listing = await client.request(
        "GET",
        _secrets_path(key.namespace),
        params={"labelSelector": selector},
        accept=METADATA_ONLY_LIST,
    )
    items = listing.get("items")
    records = [observe(item) for item in items if isinstance(item, Mapping)] if items else []
    return max(
        (record for record in records if record is not None and record.key == key),
        key=lambda record: record.revision,
        default=None,
    )


async def mark_failed(client: KubeClient, observed: ObservedRelease, description: str) -> None:
    """Record ``observed`` as failed, as helm records a failed operation.

    For a release stuck in ``pending-*`` (helm was killed mid-operation): helm refuses
    to touch a pending release, but upgrades or rolls back a failed one. Raises
    ``Conflict`` when the record is no longer what was observed (its status changed, or
    it changed between our read and our write: the update carries the resourceVersion),
    ``NotFound`` when it is gone, and ValueError when it is not a release record.
    """
    path = _secrets_path(observed.key.namespace, observed.secret_name)
    secret = await client.request("GET", path)
    current = observe(secret)
    if current is None or current.status != observed.status:
        raise Conflict(409, "Conflict", f"release {observed.key} changed since it was read")
    release = await asyncio.to_thread(decode_release, _release_data(secret))
    release["info"]["status"] = "failed"
    release["info"]["description"] = description
    encoded = await asyncio.to_thread(encode_release, release)
    metadata = secret["metadata"]
    labels = {**metadata["labels"], "status": "failed", "modifiedAt": str(int(time.time()))}
    body = {
        **secret,
        "metadata": {**metadata, "labels": labels},
        "data": {**secret["data"], "release": encoded},
    }
    await client.request("PUT", path, body=body)


@dataclass(frozen=True)
class StoredRelease:
    """One revision of a release as stored: its Secret and the release it holds, decoded."""

    observed: ObservedRelease
    secret: Mapping[str, Any] = field(repr=False)
    release: Mapping[str, Any] = field(repr=False)  # never printed: holds values

    @property
    def chart(self) -> tuple[str | None, str | None]:
        """Name and version of the chart released (None where the record does not say)."""
        chart = self.release.get("chart")
        metadata = chart.get("metadata") if isinstance(chart, Mapping) else None
        if not isinstance(metadata, Mapping):
            return None, None
        name, version = metadata.get("name"), metadata.get("version")
        return (
            name if isinstance(name, str) else None,
            version if isinstance(version, str) else None,
        )

    @property
    def config(self) -> Mapping[str, Any]:
        """The user-supplied values the revision was made with (helm's ``config``)."""
        config = self.release.get("config")
        return config if isinstance(config, Mapping) else {}

    @property
    def manifest(self) -> str:
        manifest = self.release.get("manifest")
        return manifest if isinstance(manifest, str) else ""


async def read_stored(client: KubeClient, observed: ObservedRelease) -> StoredRelease | None:
    """Revision ``observed`` of a release, whole (None: its record is gone).

    Raises ValueError when the Secret is not a release record, ApiError when it cannot
    be read.
    """
    path = _secrets_path(observed.key.namespace, observed.secret_name)
    secret = await client.get(path)
    if secret is None:
        return None
    current = observe(secret)
    if current is None or current.key != observed.key:
        raise ValueError(f"{observed.secret_name} is not a record of release {observed.key}")
    release = await asyncio.to_thread(decode_release, _release_data(secret))
    return StoredRelease(current, secret, release)


async def relabel(
    client: KubeClient, stored: StoredRelease, labels: Mapping[str, str | None]
) -> ObservedRelease:
    """Set (or, for None, remove) custom labels of a stored revision; the record as it is now.

    The update carries the resourceVersion read: raises ``Conflict`` when the record
    changed since ``stored`` was read, ``NotFound`` when it is gone.
    """
    metadata = stored.secret["metadata"]
    current = dict(metadata.get("labels") or {})
    for name, value in labels.items():
        if name in HELM_LABELS:
            raise ValueError(f"{name} is one of helm's own labels")
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
    body = {**stored.secret, "metadata": {**metadata, "labels": current}}
    path = _secrets_path(stored.observed.key.namespace, stored.observed.secret_name)
    written = observe(await client.request("PUT", path, body=body))
    if written is None:  # pragma: no cover - the server answers with what was written
        raise ValueError(f"{stored.observed.secret_name} is no longer a release record")
    return written


def _release_data(secret: Mapping[str, Any]) -> str:
    data = secret.get("data")
    encoded = data.get("release") if isinstance(data, Mapping) else None
    if not isinstance(encoded, str):
        raise ValueError("not a helm release record: no data.release")
    return encoded


def _secrets_path(namespace: str, name: str | None = None) -> str:
    return resource_path("", "v1", "secrets", namespace=namespace, name=name)


# --- the record format -------------------------------------------------------------------


def decode_release(data_release_b64: str) -> dict[str, Any]:
    """A release from a Secret's ``data.release`` (raises ValueError when it is not one)."""
    try:
        helm_text = base64.b64decode(data_release_b64, validate=True)
        payload = base64.b64decode(helm_text, validate=True)
        if payload.startswith(GZIP_MAGIC):
            payload = gzip.decompress(payload)
        release = decode_json(payload)
    except (ValueError, binascii.Error, OSError, EOFError) as exc:
        raise ValueError(f"not a helm release record: {exc}") from None
    if not isinstance(release, dict) or not isinstance(release.get("info"), dict):
        raise ValueError("not a helm release record: no info")
    return release


def encode_release(release: Mapping[str, Any]) -> str:
    """``data.release`` for a release, encoded as helm does: JSON, gzip, base64 (twice)."""
    payload = json.dumps(release, separators=(",", ":"), ensure_ascii=False).encode()
    helm_text = base64.b64encode(gzip.compress(payload, compresslevel=9, mtime=0))
    return base64.b64encode(helm_text).decode("ascii")
