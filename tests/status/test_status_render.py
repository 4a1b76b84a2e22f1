"""Rendering a HelmRelease status: the Ready summary, condition transitions, no-op detection.

``summarize_ready`` is the only place Ready is decided; ``lastTransitionTime`` moves
only when a condition's status flips; rendering the same update twice gives the
same status, which is how a no-op resync writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.status import (
    CHART_FETCHED,
    DEPLOYED,
    FALSE,
    READY,
    RECONCILING,
    RELEASED,
    STALLED,
    TRUE,
    UNKNOWN,
    Condition,
    StatusUpdate,
    one_line,
    ready_of,
    render_status,
    summarize_ready,
)

T0, T1 = "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"


def cond(kind: str, status: str, reason: str = "R", message: str = "m") -> Condition:
    return Condition(kind, status, reason, message)


HEALTHY = {
    CHART_FETCHED: cond(CHART_FETCHED, TRUE, "ChartFetched", "fetched"),
    RELEASED: cond(RELEASED, TRUE, "InstallSucceeded", "installed revision 1"),
    DEPLOYED: cond(DEPLOYED, TRUE, "Deployed", "deployed"),
    RECONCILING: cond(RECONCILING, FALSE),
    STALLED: cond(STALLED, FALSE),
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, cond(READY, TRUE, "InstallSucceeded", "installed revision 1")),
        (
            {STALLED: cond(STALLED, TRUE, "InvalidSpec", "spec.chart: is required")},
            cond(READY, FALSE, "InvalidSpec", "spec.chart: is required"),
        ),
        (
            {RECONCILING: cond(RECONCILING, TRUE, "Upgrading", "upgrading")},
            cond(READY, UNKNOWN, "Upgrading", "upgrading"),
        ),
        (  # stalled wins over reconciling
            {
                RECONCILING: cond(RECONCILING, TRUE, "Upgrading", "upgrading"),
                STALLED: cond(STALLED, TRUE, "ReleaseRefused", "not ours"),
            },
            cond(READY, FALSE, "ReleaseRefused", "not ours"),
        ),
        (
            {CHART_FETCHED: cond(CHART_FETCHED, FALSE, "ChartFetchFailed", "no such chart")},
            cond(READY, FALSE, "ChartFetchFailed", "no such chart"),
        ),
        (
            {RELEASED: cond(RELEASED, FALSE, "UpgradeFailed", "helm failed")},
            cond(READY, FALSE, "UpgradeFailed", "helm failed"),
        ),
        (
            {DEPLOYED: cond(DEPLOYED, FALSE, "failed", "release is failed")},
            cond(READY, FALSE, "failed", "release is failed"),
        ),
        (  # the first failing prerequisite names the reason
            {
                CHART_FETCHED: cond(CHART_FETCHED, FALSE, "ChartFetchFailed", "x"),
                RELEASED: cond(RELEASED, FALSE, "UpgradeFailed", "y"),
            },
            cond(READY, FALSE, "ChartFetchFailed", "x"),
        ),
        (
            {RELEASED: cond(RELEASED, UNKNOWN, "Pending", "p")},
            cond(READY, UNKNOWN, "Pending", "p"),
        ),
        (  # a failure stands while its retry is in progress
            {
                RECONCILING: cond(RECONCILING, TRUE, "ProgressingWithRetry", "will retry"),
                RELEASED: cond(RELEASED, FALSE, "DeployFailed", "helm failed"),
            },
            cond(READY, FALSE, "DeployFailed", "helm failed"),
        ),
        (  # work in progress on a healthy release
            {RECONCILING: cond(RECONCILING, TRUE, "Upgrading", "values changed")},
            cond(READY, UNKNOWN, "Upgrading", "values changed"),
        ),
    ],
)
def test_summarize_ready(changes: dict[str, Condition], expected: Condition) -> None:
    assert summarize_ready({**HEALTHY, **changes}) == expected


@pytest.mark.parametrize("missing", [CHART_FETCHED, RELEASED, DEPLOYED])
def test_ready_is_unknown_until_every_prerequisite_is_known(missing: str) -> None:
    conditions = {kind: c for kind, c in HEALTHY.items() if kind != missing}
    assert summarize_ready(conditions) == cond(
        READY, UNKNOWN, "Progressing", f"{missing} is not known yet"
    )


def test_ready_without_any_condition_is_unknown() -> None:
    assert summarize_ready({}).status == UNKNOWN


def healthy_update(**fields: Any) -> StatusUpdate:
    return StatusUpdate(phase="Succeeded", conditions=tuple(HEALTHY.values()), fields=fields)


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_first_render_sets_everything() -> None:
    status = render_status(None, healthy_update(revision="6.7.1"), generation=3, now=T0)
    assert status["observedGeneration"] == 3
    assert status["phase"] == "Succeeded"
    assert status["revision"] == "6.7.1"
    assert [c["type"] for c in status["conditions"]] == [
        READY,
        RECONCILING,
        STALLED,
        CHART_FETCHED,
        RELEASED,
        DEPLOYED,
    ]
    assert by_type(status)[READY] == {
        "type": READY,
        "status": TRUE,
        "reason": "InstallSucceeded",
        "message": "installed revision 1",
        "lastTransitionTime": T0,
        "lastUpdateTime": T0,
        "observedGeneration": 3,
    }
    assert ready_of(status) == TRUE


def test_same_update_renders_the_same_status() -> None:
    """A no-op resync: nothing differs, so nothing is written."""
    first = render_status(None, healthy_update(revision="6.7.1"), generation=3, now=T0)
    again = render_status(first, healthy_update(revision="6.7.1"), generation=3, now=T1)
    assert again == first


def test_transition_time_moves_only_when_status_flips() -> None:
    first = render_status(None, healthy_update(), generation=1, now=T0)
    failed = StatusUpdate(
        phase="DeployFailed",
        conditions=(cond(RELEASED, FALSE, "UpgradeFailed", "helm failed"),),
    )
    second = render_status(first, failed, generation=2, now=T1)
    conditions = by_type(second)
    assert conditions[RELEASED]["lastTransitionTime"] == T1
    assert conditions[READY]["lastTransitionTime"] == T1
    assert conditions[READY]["reason"] == "UpgradeFailed"
    # untouched conditions are carried over as they were
    assert conditions[CHART_FETCHED] == by_type(first)[CHART_FETCHED]
    assert conditions[DEPLOYED]["observedGeneration"] == 1
    # a new reason or message with the same status keeps the transition time
    reworded = StatusUpdate(conditions=(cond(RELEASED, FALSE, "InstallFailed", "other"),))
    third = render_status(second, reworded, generation=2, now="2026-11-23T12:00:00Z")
    assert by_type(third)[RELEASED]["lastTransitionTime"] == T1
    # ... and moves the update time, as helm-operator's lastUpdateTime did
    assert by_type(third)[RELEASED]["lastUpdateTime"] == "2026-11-23T12:00:00Z"
    assert by_type(second)[RELEASED]["lastUpdateTime"] == T1
    assert by_type(third)[RELEASED]["reason"] == "InstallFailed"
    assert ready_of(third) == FALSE


def test_new_generation_updates_observed_generation_only() -> None:
    first = render_status(None, healthy_update(), generation=1, now=T0)
    second = render_status(first, healthy_update(), generation=2, now=T1)
    assert second["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in second["conditions"]} == {2}
    assert {c["lastTransitionTime"] for c in second["conditions"]} == {T0}


def test_fields_are_set_kept_and_removed() -> None:
    first = render_status(
        None, healthy_update(revision="6.7.1", releaseName="r"), generation=1, now=T0
    )
    second = render_status(
        first,
        StatusUpdate(fields={"revision": None, "valuesChecksum": "abc"}),
        generation=1,
        now=T1,
    )
    assert "revision" not in second
    assert second["releaseName"] == "r"
    assert second["valuesChecksum"] == "abc"
    assert second["phase"] == "Succeeded"  # no phase in the update: kept


def test_malformed_previous_status_is_replaced_not_fatal() -> None:
    junk = {"conditions": ["x", {"no": "type"}, {"type": 5}], "phase": 3}
    status = render_status(junk, healthy_update(), generation=1, now=T0)
    assert ready_of(status) == TRUE
    assert len(status["conditions"]) == 6
    assert ready_of("junk") == UNKNOWN


def test_foreign_conditions_are_kept_after_ours() -> None:
    previous = {"conditions": [{"type": "Custom", "status": TRUE}]}
    status = render_status(previous, healthy_update(), generation=1, now=T0)
    assert status["conditions"][-1] == {"type": "Custom", "status": TRUE}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("  one\n two\t\tthree  ", "one two three"),
        ("x" * 2000, "x" * 997 + "..."),
        ("", ""),
    ],
)
def test_messages_are_one_trimmed_line(message: str, expected: str) -> None:
    assert one_line(message) == expected


def test_condition_messages_are_rendered_on_one_line() -> None:
    update = StatusUpdate(conditions=(cond(RELEASED, FALSE, "UpgradeFailed", "a\nb"),))
    assert by_type(render_status(None, update, generation=1, now=T0))[RELEASED]["message"] == "a b"


def test_a_status_written_by_0_1_keeps_helms_revision_number_under_its_new_name() -> None:
    """0.1 kept helm's revision number in ``revision``, now the chart version (a string in
    the schema): carried over as it is, it would make every write of the status invalid."""
    old = {"revision": 4, "releaseName": "r", "conditions": []}
    status = render_status(old, StatusUpdate(), generation=2, now=T0)
    assert "revision" not in status
    assert status["lastReleaseRevision"] == 4
    newer = render_status(old, StatusUpdate(fields={"revision": "6.7.1"}), generation=2, now=T0)
    assert (newer["revision"], newer["lastReleaseRevision"]) == ("6.7.1", 4)
