"""Drift detection and correction, decided without an API server.

What is compared (the object as helm applied it, ignored fields given their live value,
server-maintained metadata and the status left out), which objects an ignore rule
targets, when a release in sync is checked, and what each verdict reports: the Drifted
condition, the Event naming the objects, what the queue does next, and that Ready is
never lowered by drift alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.api import ChartSpec, DriftIgnoreRule, DriftMode, DriftTarget, ReleaseSpec
from controller.charts import FetchedChart
from controller.keys import ReleaseKey
from controller.outcome import Outcome
from controller.reconcile import drift
from controller.reconcile.actions import in_sync
from controller.reconcile.actions.drift_check import Checked, Drift, report
from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import Action, decide
from controller.reconcile.report import Tell
from controller.reconcile.state import Assessment, ReleaseState
from controller.releases import ObservedRelease
from controller.status import render_status

RELEASE = ReleaseKey("apps", "web")
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "a:1"}]}}},
}


def test_the_object_is_compared_as_helm_applied_it() -> None:
    applied = drift.as_helm_applied(DEPLOYMENT, RELEASE, namespaced=True)
    assert applied["metadata"] == {
        "name": "web",
        "namespace": "apps",
        "labels": {"app": "web", "app.kubernetes.io/managed-by": "Helm"},
        "annotations": {
            "meta.helm.sh/release-name": "web",
            "meta.helm.sh/release-namespace": "apps",
        },
    }
    assert "namespace" not in DEPLOYMENT["metadata"]  # the manifest's object is left alone
    cluster_scoped = {**DEPLOYMENT, "metadata": {"name": "x", "namespace": "stray"}}
    assert "namespace" not in drift.as_helm_applied(cluster_scoped, RELEASE, False)["metadata"]
    elsewhere = {**DEPLOYMENT, "metadata": {"name": "x", "namespace": "other"}}
    assert drift.as_helm_applied(elsewhere, RELEASE, True)["metadata"]["namespace"] == "other"


@pytest.mark.parametrize(
    ("metadata", "out"),
    [
        ({"annotations": {drift.DISABLED_KEY: "disabled"}}, True),
        ({"labels": {drift.DISABLED_KEY: "disabled"}}, True),
        ({"labels": {drift.DISABLED_KEY: "enabled"}}, False),
        ({}, False),
    ],
)
def test_objects_marked_disabled_are_left_out(metadata: dict[str, Any], out: bool) -> None:
    assert drift.left_out({"metadata": metadata}) is out


LABELLED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web-1", "namespace": "apps", "labels": {"tier": "front"}},
}


@pytest.mark.parametrize(
    ("target", "selected"),
    [
        (DriftTarget(), True),
        (DriftTarget(kind="Deployment"), True),
        (DriftTarget(kind="Deploy"), False),  # matched whole, as helm-controller does
        (DriftTarget(kind="(Deployment|StatefulSet)"), True),
        (DriftTarget(group="apps", version="v1"), True),
        (DriftTarget(group=""), True),  # an empty pattern is no constraint
        (DriftTarget(version="v1beta.*"), False),
        (DriftTarget(name="web-.*", namespace="apps"), True),
        (DriftTarget(namespace=".*-system"), False),
        (DriftTarget(label_selector="tier=front"), True),
        (DriftTarget(label_selector="tier in (back)"), False),
        (DriftTarget(annotation_selector="owner"), False),
    ],
)
def test_ignore_rule_targets(target: DriftTarget, selected: bool) -> None:
    rules = (DriftIgnoreRule(("/spec/replicas",), target), DriftIgnoreRule(("/a",)))
    expected = ("/spec/replicas", "/a") if selected else ("/a",)
    assert drift.ignored_paths(rules, LABELLED) == expected


def test_ignored_fields_take_their_live_value_or_are_left_out() -> None:
    applied = drift.as_helm_applied(DEPLOYMENT, RELEASE, namespaced=True)
    live = {"spec": {"replicas": 7, "template": {"spec": {"containers": [{"image": "b:2"}]}}}}
    paths = ("/spec/replicas", "/spec/template/spec/containers/0/image", "/metadata/labels/app")
    kept = drift.with_live_values(applied, live, paths)
    assert kept["spec"]["replicas"] == 7
    assert kept["spec"]["template"]["spec"]["containers"][0] == {"name": "c", "image": "b:2"}
    assert "app" not in kept["metadata"]["labels"]  # not live: not applied either
    fresh = drift.with_live_values(drift.as_helm_applied(DEPLOYMENT, RELEASE, True), None, paths)
    assert "replicas" not in fresh["spec"]  # a deleted object is created without it


@pytest.mark.parametrize(
    ("live", "result", "ignored", "paths"),
    [
        ({"spec": {"replicas": 3}}, {"spec": {"replicas": 1}}, (), ("/spec/replicas",)),
        ({"spec": {"replicas": 3}}, {"spec": {"replicas": 1}}, ("/spec/replicas",), ()),
        ({"spec": {"replicas": 3}}, {"spec": {"replicas": 1}}, ("",), ()),
        ({"a": [1, 2]}, {"a": [1, 3]}, (), ("/a/1",)),
        ({"a": [1, 2]}, {"a": [1]}, (), ("/a",)),
        ({"a": {"x/y": 1}}, {"a": {"x/y": 2}}, (), ("/a/x~1y",)),
        ({"a": {"x/y": 1}}, {"a": {"x/y": 2}}, ("/a/x~1y",), ()),
        ({}, {"b": 1}, (), ("/b",)),
        # what the server maintains is never drift
        (
            {"metadata": {"resourceVersion": "1", "generation": 1, "managedFields": []}},
            {"metadata": {"resourceVersion": "2", "generation": 2, "managedFields": [{}]}},
            (),
            (),
        ),
        ({"status": {"replicas": 1}}, {"status": {"replicas": 2}}, (), ()),
    ],
)
def test_differences(
    live: dict[str, Any], result: dict[str, Any], ignored: tuple[str, ...], paths: tuple[str, ...]
) -> None:
    assert drift.differences(live, result, ignored) == paths


def test_json_pointer_tokens_are_unescaped() -> None:
    assert drift.pointer_tokens("/metadata/annotations/a~1b~0c") == [
        "metadata",
        "annotations",
        "a/b~c",
    ]
    assert drift.pointer_tokens("") == []


# --- when a release is checked ------------------------------------------------------------


@pytest.mark.parametrize(("checking", "action"), [(True, Action.CHECK_DRIFT), (False, Action.NONE)])
def test_a_release_in_sync_is_checked_only_when_drift_detection_is_on(
    checking: bool, action: Action
) -> None:
    in_sync = Assessment(ReleaseState.IN_SYNC, "up to date")
    decided = decide(
        in_sync, deleting=False, helm_running=False, locked_for=None, timeout=300, drift=checking
    )
    assert decided.action is action
    other = Assessment(ReleaseState.OUT_OF_SYNC, "changed")
    upgrade = decide(
        other, deleting=False, helm_running=False, locked_for=None, timeout=300, drift=checking
    )
    assert upgrade.action is Action.UPGRADE  # drift never stands in for an upgrade


# --- what a check reports -----------------------------------------------------------------

SPEC = ReleaseSpec(
    group="helm.fluxcd.io",
    namespace="apps",
    name="web",
    release_name="web",
    target_namespace="apps",
    chart=ChartSpec("https://charts.example.com/", "web", "1.0.0"),
    values={"password": "never-shown"},
)
ATTEMPT = Attempt.of(SPEC, FetchedChart(Path("web.tgz"), "c" * 64, "web", "1.0.0", "https://x"))
OBSERVED = ObservedRelease(RELEASE, 1, "deployed")
REPLICAS = Drift("Deployment apps/web", ("/spec/replicas",))
MISSING = Drift("Service apps/web", ())


@pytest.mark.parametrize(
    ("checked", "drifted", "reason", "words", "event", "outcome", "tell"),
    [
        (Checked(DriftMode.WARN, 2), "False", "NoDriftDetected", ["2 objects"], None,
         Outcome.resync(), Tell.ALWAYS),
        (Checked(DriftMode.WARN, 2, (REPLICAS, MISSING)), "True", "DriftDetected",
         ["Deployment apps/web (/spec/replicas)", "Service apps/web is missing"],
         ("DriftDetected", True), Outcome.resync(), Tell.ON_CHANGE),
        (Checked(DriftMode.ENABLED, 2, (REPLICAS,)), "False", "DriftCorrected",
         ["corrected: Deployment apps/web (/spec/replicas)"], ("DriftCorrected", False),
         Outcome.resync(), Tell.ALWAYS),
        (Checked(DriftMode.ENABLED, 2, (REPLICAS,), ("Deployment apps/web: forbidden",)), "True",
         "DriftCorrectionFailed", ["not corrected: Deployment apps/web: forbidden"],
         ("DriftCorrectionFailed", True), Outcome.retry(), Tell.ALWAYS),
        (Checked(DriftMode.ENABLED, 0, unreadable="no record"), "Unknown", "DriftCheckFailed",
         ["no record"], ("DriftCheckFailed", True), Outcome.retry(), Tell.ON_CHANGE),
    ],
)  # fmt: skip
def test_what_a_drift_check_reports(
    checked: Checked,
    drifted: str,
    reason: str,
    words: list[str],
    event: tuple[str, bool] | None,
    outcome: Outcome,
    tell: Tell,
) -> None:
    said = report(checked, ATTEMPT, OBSERVED, released_shown=True)
    assert said.status is not None
    status = render_status(None, said.status, generation=1, now="2026-01-01T00:00:00Z")
    found = {c["type"]: c for c in status["conditions"]}
    assert (found["Drifted"]["status"], found["Drifted"]["reason"]) == (drifted, reason)
    assert all(word in found["Drifted"]["message"] for word in words)
    assert found["Ready"]["status"] != "False"  # drift alone never fails the release
    assert (said.outcome, said.tell, said.action) == (outcome, tell, "drift")
    shown = None if said.event is None else (said.event.reason, said.event.warning)
    assert shown == event
    assert "never-shown" not in repr(said)


def test_many_drifted_objects_are_counted_not_listed() -> None:
    many = tuple(Drift(f"ConfigMap apps/c{n}", ("/data/x",)) for n in range(12))
    said = report(Checked(DriftMode.WARN, 12, many), ATTEMPT, OBSERVED, released_shown=True)
    assert said.event is not None
    assert "c4 " in said.event.note
    assert "c5 " not in said.event.note
    assert "and 7 more" in said.event.note


def test_turning_drift_detection_off_drops_the_condition() -> None:
    checked = report(
        Checked(DriftMode.WARN, 1, (REPLICAS,)), ATTEMPT, OBSERVED, released_shown=True
    )
    assert checked.status is not None
    before = render_status(None, checked.status, generation=1, now="2026-01-01T00:00:00Z")
    off = in_sync.report(ATTEMPT, OBSERVED, released_shown=True)
    assert off.status is not None
    after = render_status(before, off.status, generation=1, now="2026-01-01T00:00:01Z")
    assert "Drifted" not in {c["type"] for c in after["conditions"]}


@pytest.mark.parametrize(
    ("checked", "result"),
    [
        (Checked(DriftMode.WARN, 1), "noop"),
        (Checked(DriftMode.WARN, 1, (REPLICAS,)), "noop"),  # reported: the check worked
        (Checked(DriftMode.ENABLED, 1, (REPLICAS,)), "success"),
        (Checked(DriftMode.ENABLED, 1, (REPLICAS,), ("Deployment apps/web: no",)), "error"),
        (Checked(DriftMode.WARN, 0, unreadable="no record"), "error"),
    ],
)
def test_only_a_check_that_failed_counts_as_a_reconcile_error(
    checked: Checked, result: str
) -> None:
    """What the HelmReleaseReconcileErrors alert counts (``result="error"``)."""
    assert report(checked, ATTEMPT, OBSERVED, released_shown=True).result == result
