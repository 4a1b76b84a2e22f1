"""What a reconcile wants applied: the chart fetched, the values merged, their digests.

Built once the chart is fetched and before the release is looked at; every action
that reports on the release's state takes the status fields about the attempt (the
chart version tried, the values' checksum) and the ChartFetched condition from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.api import ReleaseSpec
from controller.charts import FetchedChart
from controller.reconcile.state import desired_digest
from controller.sources import ComposedValues
from controller.status import CHART_FETCHED, PHASE_CHART_FETCHED, TRUE, Condition
from controller.values import merge_values, values_digest


@dataclass(frozen=True)
class Attempt:
    """What this reconcile wants applied."""

    spec: ReleaseSpec
    chart: FetchedChart
    values: Mapping[str, Any] = field(repr=False)  # never printed: values may hold secrets
    desired: str
    """Digest of everything that changes what helm would do (``state.desired_digest``)."""
    fields: Mapping[str, Any]
    """Status fields about the attempt: chart version tried, values checksum."""
    fetched: Condition
    notes: tuple[str, ...] = ()
    """Optional sources of values that were missing and skipped (named, never content)."""

    @classmethod
    def of(
        cls, spec: ReleaseSpec, chart: FetchedChart, composed: ComposedValues | None = None
    ) -> Attempt:
        """``composed``: the values of ``spec.valuesFrom`` and ``spec.values`` together
        (None: the spec reads no source, its values are all)."""
        values = composed.values if composed is not None else merge_values([spec.values])
        checksum = values_digest(values)
        return cls(
            spec=spec,
            chart=chart,
            values=values,
            notes=composed.notes if composed is not None else (),
            desired=desired_digest(spec, chart.digest, checksum),
            fields={
                "lastAttemptedRevision": chart.revision,
                "valuesChecksum": checksum,
                # the request (if any) is handled by whatever this reconcile does
                **({"lastHandledReconcileAt": spec.requested_at} if spec.requested_at else {}),
                **({"lastHandledForceAt": spec.force_at} if spec.force_at else {}),
            },
            fetched=Condition(
                CHART_FETCHED,
                TRUE,
                PHASE_CHART_FETCHED,
                f"fetched chart {chart.name} {chart.version}",
            ),
        )

    def noted(self, message: str) -> str:
        """``message`` with the optional sources that were skipped, if any."""
        return "; ".join((message, *self.notes))

    def release_fields(self) -> dict[str, Any]:
        """The attempt's status fields plus the names of the release it is about."""
        return {
            **self.fields,
            "releaseName": self.spec.release_name,
            "targetNamespace": self.spec.target_namespace,
        }
