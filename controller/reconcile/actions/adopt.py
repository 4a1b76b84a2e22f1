"""Adopt: a release helm-operator installed for this HelmRelease becomes ours, without helm.

Its latest record gets our owner labels (what ``--labels`` would have written). When
the release holds what the spec asks for (the chart's name and version, the values,
and it is deployed), the digest label claims the desired state, and the next look finds
it in sync: taking a release over upgrades nothing. Otherwise no digest is claimed and
the release is looked at again at once, to be upgraded like any release of ours that
is not what its spec asks. Release options (wait, timeout ...) are not recorded by
helm, so they cannot tell an adopted release apart; the next change applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api import DIGEST_LABEL
from controller.keys import ObjectKey
from controller.kube.client import ApiError, Conflict, NotFound
from controller.outcome import Outcome
from controller.reconcile.actions.context import ActionContext
from controller.reconcile.attempt import Attempt
from controller.reconcile.report import (
    NOT_RECONCILING,
    NOT_STALLED,
    Report,
    deployed,
    logged,
    retrying,
)
from controller.reconcile.state import digest_label, release_labels, unclaimed
from controller.releases import ObservedRelease, StoredRelease, read_stored, relabel
from controller.status import (
    PHASE_SUCCEEDED,
    RECONCILING,
    RELEASED,
    TRUE,
    Condition,
    EventNote,
    StatusUpdate,
)
from controller.values import values_digest

ADOPTED = "Adopted"


@dataclass(frozen=True)
class Adopted:
    """The adopted record, or why it could not be adopted."""

    record: ObservedRelease | None
    """The record as labelled ours (None: it could not be)."""
    differs: str | None = None
    """Why the release is not what the spec asks (it is upgraded next); None: in sync."""
    error: str | None = None


async def run(ctx: ActionContext, attempt: Attempt) -> Adopted:
    """Label the observed record ours; never runs helm."""
    observed = ctx.observed
    if observed is None:
        raise ValueError("adopting needs the observed release record")
    try:
        stored = await read_stored(ctx.client, observed)
        if stored is None:
            raise NotFound(404, "NotFound", f"release {ctx.release} revision is gone")
        if stored.observed.revision != observed.revision or not unclaimed(stored.observed):
            raise Conflict(409, "Conflict", f"release {ctx.release} changed since it was read")
        differs = difference(stored, attempt)
        spec = attempt.spec
        labels: dict[str, str | None] = {
            **release_labels(ObjectKey(spec.group, spec.namespace, spec.name), attempt.desired)
        }
        # in sync: claim exactly what is desired; else claim nothing, so it is upgraded
        labels[DIGEST_LABEL] = digest_label(attempt.desired) if differs is None else None
        record = await relabel(ctx.client, stored, labels)
    except (ApiError, ValueError) as error:
        return Adopted(None, error=str(error))
    return Adopted(record, differs)


def difference(stored: StoredRelease, attempt: Attempt) -> str | None:
    """How the stored release differs from what the attempt would apply; None: it does not.

    Values are compared with the user-supplied ones helm recorded, exactly (as the
    desired-state digest compares them), and never shown.
    """
    name, version = stored.chart
    chart = attempt.chart
    if (name, version) != (chart.name, chart.version):
        return f"it holds chart {name} {version}, the spec asks for {chart.name} {chart.version}"
    if values_digest(stored.config) != values_digest(attempt.values):
        return "its values are not the spec's"
    if stored.observed.status != "deployed":
        return f"its revision {stored.observed.revision} is {stored.observed.status}"
    return None


def report(adopted: Adopted, attempt: Attempt) -> Report:
    """In sync: Released, as an in-sync release is. Not: in progress, looked at again at
    once (and upgraded). Failed: retried."""
    release = attempt.spec.release
    record = adopted.record
    if record is None:
        message = f"could not adopt release {release}: {adopted.error}"
        return Report(
            outcome=Outcome.retry(),
            action="adopt",
            result="error",
            status=StatusUpdate(
                conditions=(attempt.fetched, retrying(message), NOT_STALLED),
                fields=attempt.release_fields(),
            ),
            event=EventNote("AdoptFailed", message, "Adopt", warning=True),
            log=logged(False, message),
        )
    fields: dict[str, object] = {
        **attempt.release_fields(),
        "lastReleaseRevision": record.revision,
        "releaseStatus": record.status,
    }
    adopted_what = f"adopted release {release} installed by helm-operator"
    if adopted.differs is None:
        message = f"{adopted_what}, revision {record.revision}"
        fields.update(revision=attempt.chart.revision, lastAppliedDigest=attempt.desired)
        conditions: tuple[Condition, ...] = (
            attempt.fetched,
            Condition(RELEASED, TRUE, PHASE_SUCCEEDED, message),
            deployed(release, record.status),
            NOT_RECONCILING,
            NOT_STALLED,
        )
        outcome, phase = Outcome.resync(), PHASE_SUCCEEDED
    else:
        message = f"{adopted_what}, revision {record.revision}; {adopted.differs}: upgrading it"
        conditions = (
            attempt.fetched,
            deployed(release, record.status),
            Condition(RECONCILING, TRUE, ADOPTED, message),
            NOT_STALLED,
        )
        outcome, phase = Outcome.requeue(0.0), None
    return Report(
        outcome=outcome,
        action="adopt",
        result="success",
        status=StatusUpdate(phase=phase, conditions=conditions, fields=fields),
        event=EventNote(ADOPTED, message, "Adopt"),
        log=logged(True, message),
    )
