"""What state a HelmRelease's Helm release is in, derived without any I/O.

The inputs are what the HelmRelease's status says we did last (``Recorded``), what the
release record in the cluster says (``ReleaseRecord``), the digest of what the spec
asks for now, whether its tests are enabled and whether a reconcile was requested and,
for a release that carries no owner labels, the antecedent annotations helm-operator
left on the release's resources. ``assess`` turns them into one ``ReleaseState`` plus a
one-line reason that is safe to show users.

A failed install, upgrade or test is remembered by the digest of the spec that failed
(``lastFailedDigest``) and the revision it left (``lastFailedRevision``): while the spec
is that one, the release is not tried again but remediated (uninstalled after a failed
install, rolled back after a failed upgrade when rollbacks are enabled) and then left
alone, until the spec, its values or the ``reconcile.fluxcd.io/requestedAt`` annotation
change.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.api import (
    DIGEST_LABEL,
    DIGEST_LABEL_LENGTH,
    LEGACY_GROUP,
    MAX_NAMESPACE,
    OWNER_NAME_LABEL,
    OWNER_NAMESPACE_LABEL,
    ReleaseSpec,
    is_dns_label,
    is_release_name,
    owned_by,
    owner_group,
    owner_labels,
)
from controller.keys import ObjectKey, ReleaseKey
from controller.values import digest

PENDING_STATUSES = frozenset({"pending-install", "pending-upgrade", "pending-rollback"})
GONE_STATUSES = frozenset({"uninstalled"})  # kept history of an uninstalled release


class ReleaseState(enum.Enum):
    ABSENT = "absent"  # no release (or only the history of an uninstalled one)
    OUT_OF_SYNC = "out-of-sync"  # ours, but not what the spec asks for now
    IN_SYNC = "in-sync"  # ours, deployed, exactly what we applied last
    UNTESTED = "untested"  # in sync, but the tests have not run on this revision
    INSTALL_FAILED = "install-failed"  # this spec's install (or its tests) failed: still there
    UPGRADE_FAILED = "upgrade-failed"  # this spec's upgrade (or its tests) failed: latest
    ROLLED_BACK = "rolled-back"  # this spec's upgrade failed and was rolled back
    GAVE_UP = "gave-up"  # this spec failed and nothing of it is left to undo
    LOCKED = "locked"  # pending-install/upgrade/rollback: some helm operation holds it
    FAILED = "failed"  # ours, and its last operation failed
    FOREIGN = "foreign"  # exists, but not installed by this HelmRelease
    ADOPTABLE = "adoptable"  # no owner labels, but helm-operator released it for this one
    MOVED = "moved"  # the spec names another release than the one we manage


class ReleaseRecord(Protocol):
    """The parts of a Helm release record (``controller.releases.ObservedRelease``) used here."""

    @property
    def revision(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def created_at(self) -> float | None: ...


@dataclass(frozen=True)
class Recorded:
    """What the HelmRelease's status says we did last."""

    release: ReleaseKey | None = None
    revision: int | None = None
    applied_digest: str | None = None
    failed_digest: str | None = None
    """The spec whose install, upgrade or tests failed last (until one succeeds)."""
    failed_revision: int | None = None
    """The helm revision that failure left (None: it made none)."""
    rollbacks: int = 0
    """Rollbacks since the last success or change of spec (helm-operator's rollbackCount)."""
    tested_revision: int | None = None
    """The helm revision whose tests ran last (and passed, or failed and were ignored)."""
    handled_request: str | None = None
    """The ``reconcile.fluxcd.io/requestedAt`` value last acted on."""
    handled_force: str | None = None
    """The ``reconcile.fluxcd.io/forceAt`` value last acted on."""

    @classmethod
    def from_status(cls, status: Any) -> Recorded:
        """Read back our own status fields, ignoring anything malformed (users can edit it).

        The release's names end up in a label selector and API paths: only valid names
        are taken.
        """
        if not isinstance(status, Mapping):
            return cls()
        name, namespace = status.get("releaseName"), status.get("targetNamespace")
        # 0.1 kept helm's revision number in ``revision`` (now the chart version).
        revision = status.get("lastReleaseRevision", status.get("revision"))
        return cls(
            release=_release_key(namespace, name),
            revision=_count(revision),
            applied_digest=_text(status.get("lastAppliedDigest")),
            failed_digest=_text(status.get("lastFailedDigest")),
            failed_revision=_count(status.get("lastFailedRevision")),
            rollbacks=_count(status.get("rollbackCount")) or 0,
            tested_revision=_count(status.get("lastTestedRevision")),
            handled_request=_text(status.get("lastHandledReconcileAt")),
            handled_force=_text(status.get("lastHandledForceAt")),
        )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _release_key(namespace: Any, name: Any) -> ReleaseKey | None:
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    if not is_dns_label(namespace, MAX_NAMESPACE) or not is_release_name(name):
        return None
    return ReleaseKey(namespace, name)


@dataclass(frozen=True)
class Observation:
    """Everything ``assess`` looks at for one HelmRelease."""

    owner: ObjectKey
    """The HelmRelease."""
    release: ReleaseKey
    """The release this reconcile is about: the spec's, or the recorded one being deleted."""
    recorded: Recorded
    observed: ReleaseRecord | None
    """The latest record of ``release`` (None: there is none)."""
    desired_digest: str
    tests: bool = False
    """The spec's tests are enabled."""
    requested_at: str | None = None
    """The spec's ``reconcile.fluxcd.io/requestedAt`` annotation."""
    force_at: str | None = None
    """The spec's ``reconcile.fluxcd.io/forceAt`` annotation."""
    antecedents: tuple[str, ...] | None = None
    """The helm-operator antecedent annotations found on the release's resources (distinct
    values); None: not looked for (they are read only for a release ``unclaimed`` by any
    owner labels)."""


@dataclass(frozen=True)
class Assessment:
    state: ReleaseState
    reason: str


def desired_digest(spec: ReleaseSpec, chart_digest: str, values_digest: str) -> str:
    """One digest of everything that changes what helm would do: chart, values, options."""
    options = {
        "release": spec.release_name,
        "targetNamespace": spec.target_namespace,
        **spec.options.by_spec_field(),
    }
    return digest({"chart": chart_digest, "values": values_digest, "options": options})


def digest_label(desired: str) -> str:
    return desired[:DIGEST_LABEL_LENGTH]


def release_labels(owner: ObjectKey, desired: str) -> dict[str, str]:
    """Labels written on the release record: its owner and what was applied."""
    labels = owner_labels(owner.group, owner.namespace, owner.name)
    return {**labels, DIGEST_LABEL: digest_label(desired)}


ANTECEDENT_PATTERN = re.compile(r"([^:/]+):helmrelease/([^:/]+)")
"""helm-operator's name of a HelmRelease: ``<namespace>:helmrelease/<name>``."""
MAX_SHOWN_ANTECEDENT = 120


def antecedent_of(owner: ObjectKey) -> str:
    """The antecedent annotation helm-operator wrote on every resource it released for
    HelmRelease ``owner`` (the same for both its API versions)."""
    return f"{owner.namespace}:helmrelease/{owner.name}"


def shown_antecedent(value: str) -> str:
    """``namespace/name`` of the HelmRelease an antecedent annotation names (else the
    annotation itself, cut short: it is free text to us)."""
    found = ANTECEDENT_PATTERN.fullmatch(value)
    if found is not None:
        return f"{found.group(1)}/{found.group(2)}"
    return value if len(value) <= MAX_SHOWN_ANTECEDENT else value[:MAX_SHOWN_ANTECEDENT] + "..."


def unclaimed(observed: ReleaseRecord | None) -> bool:
    """Whether a release exists and carries no owner labels at all: only then is what
    helm-operator left on its resources worth reading (never for a release of ours)."""
    if observed is None or observed.status in GONE_STATUSES:
        return False
    return owner_of(observed.labels) is None


def owner_of(labels: Mapping[str, str]) -> str | None:
    """``namespace/name`` of the HelmRelease the release's labels name (with its API group
    unless it is the legacy one), if any."""
    namespace, name = labels.get(OWNER_NAMESPACE_LABEL), labels.get(OWNER_NAME_LABEL)
    if not namespace or not name:
        return None
    group = owner_group(labels)
    return f"{namespace}/{name}" + ("" if group == LEGACY_GROUP else f" of {group}")


def assess(obs: Observation) -> Assessment:
    """The state of ``obs.release`` relative to what the HelmRelease wants."""
    release, recorded, observed = obs.release, obs.recorded, obs.observed
    if recorded.release is not None and recorded.release != obs.release:
        return Assessment(
            ReleaseState.MOVED,
            f"release moved from {recorded.release} to {release}; "
            "the old release is uninstalled first",
        )
    failed = failed_here(obs)
    if observed is None or observed.status in GONE_STATUSES:
        if failed:
            return Assessment(
                ReleaseState.GAVE_UP, f"the install of this spec failed; {release} is not installed"
            )
        return Assessment(ReleaseState.ABSENT, f"release {release} does not exist")
    if not _owned(obs, observed):
        return _not_ours(obs, observed)
    if observed.status in PENDING_STATUSES:
        return Assessment(
            ReleaseState.LOCKED,
            f"release {release} revision {observed.revision} is {observed.status}",
        )
    if failed:
        return _after_failure(obs, observed)
    if observed.status == "failed":
        return Assessment(
            ReleaseState.FAILED, f"release {release} revision {observed.revision} failed"
        )
    drift = _drift(obs, observed)
    if drift:
        return Assessment(ReleaseState.OUT_OF_SYNC, drift)
    if obs.force_at is not None and obs.force_at != obs.recorded.handled_force:
        return Assessment(
            ReleaseState.OUT_OF_SYNC, "an upgrade was requested (reconcile.fluxcd.io/forceAt)"
        )
    if obs.tests and obs.recorded.tested_revision != observed.revision:
        return Assessment(
            ReleaseState.UNTESTED,
            f"the tests of release {release} revision {observed.revision} have not run",
        )
    return Assessment(
        ReleaseState.IN_SYNC,
        f"release {release} revision {observed.revision} is deployed and up to date",
    )


def failed_here(obs: Observation) -> bool:
    """Whether the spec asked for now is the one that failed last, and nobody has asked
    for it to be tried again since."""
    recorded = obs.recorded
    requested = obs.requested_at is not None and obs.requested_at != recorded.handled_request
    return recorded.failed_digest == obs.desired_digest and not requested


def _after_failure(obs: Observation, observed: ReleaseRecord) -> Assessment:
    """Where the release stands after this spec failed: the failed revision is still the
    latest (remediate it), it was rolled back, or nothing of it is left to undo."""
    release, recorded = obs.release, obs.recorded
    shown = f"release {release} revision {observed.revision} is {observed.status}"
    failed_revision = recorded.failed_revision
    if failed_revision == observed.revision:
        if observed.revision == 1:
            return Assessment(
                ReleaseState.INSTALL_FAILED, f"the install of this spec failed; {shown}"
            )
        return Assessment(ReleaseState.UPGRADE_FAILED, f"the upgrade of this spec failed; {shown}")
    if (
        failed_revision is not None
        and recorded.rollbacks > 0
        and observed.status == "deployed"
        and observed.revision > failed_revision
    ):
        return Assessment(
            ReleaseState.ROLLED_BACK,
            f"the upgrade of this spec failed and was rolled back ({recorded.rollbacks} "
            f"rollback{'s' if recorded.rollbacks > 1 else ''}); {shown}",
        )
    return Assessment(ReleaseState.GAVE_UP, f"this spec failed; {shown}")


def _not_ours(obs: Observation, observed: ReleaseRecord) -> Assessment:
    """A release without our labels: another HelmRelease's, helm-operator's for this one
    (its antecedent annotation names this HelmRelease and no other), or nobody's."""
    release = obs.release
    owner = owner_of(observed.labels)
    if owner:
        return Assessment(ReleaseState.FOREIGN, f"release {release} belongs to HelmRelease {owner}")
    found = obs.antecedents or ()
    others = [value for value in found if value != antecedent_of(obs.owner)]
    if others:
        return Assessment(
            ReleaseState.FOREIGN,
            f"release {release} belongs to HelmRelease {shown_antecedent(others[0])} "
            "(helm-operator annotation)",
        )
    if found:
        return Assessment(
            ReleaseState.ADOPTABLE,
            f"release {release} was installed by helm-operator for this HelmRelease",
        )
    return Assessment(
        ReleaseState.FOREIGN, f"release {release} exists and was not installed by a HelmRelease"
    )


def _owned(obs: Observation, observed: ReleaseRecord) -> bool:
    return owned_by(observed.labels, obs.owner.group, obs.owner.namespace, obs.owner.name)


def _drift(obs: Observation, observed: ReleaseRecord) -> str | None:
    """Why the release is not exactly what we applied last, or None when it is."""
    release, recorded = obs.release, obs.recorded
    if observed.status != "deployed":
        return f"release {release} revision {observed.revision} is {observed.status}"
    if observed.revision != recorded.revision:
        return (
            f"release {release} is at revision {observed.revision}, not the one this "
            "HelmRelease applied: it was changed outside the operator"
        )
    applied_label = observed.labels.get(DIGEST_LABEL)
    if recorded.applied_digest != obs.desired_digest or applied_label != digest_label(
        obs.desired_digest
    ):
        return "the chart, values or release options changed"
    return None
