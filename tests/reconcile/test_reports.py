"""Every action's report, table-tested without helm or an API server.

For each outcome of each action (apply, tests, rollback, purge, stop, uninstall, unlock,
wait, refuse, in sync, moved, invalid spec, chart failure, API failure, finalizer
removed) the table gives
what the queue does next, the metric labels, what Ready says once the report's
status is rendered, and the Event users see. Then the properties every report keeps:
messages name the release and never carry values, news is told always and standing
problems once, and a failure never claims the applied digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from controller.api import (
    NOT_SUPPORTED,
    ChartSpec,
    ReleaseSpec,
    RollbackPolicy,
    SpecError,
    TestPolicy,
)
from controller.charts import ChartError, FetchedChart
from controller.helm import HelmResult
from controller.keys import ReleaseKey
from controller.kube.client import ApiError
from controller.outcome import Outcome
from controller.reconcile import finalizer
from controller.reconcile.actions import (
    adopt,
    api_failed,
    apply,
    chart_failed,
    chart_tests,
    in_sync,
    invalid,
    moved,
    purge,
    refuse,
    rollback,
    stop,
    suspended,
    uninstall,
    unlock,
    wait,
)
from controller.reconcile.actions.adopt import Adopted
from controller.reconcile.actions.apply import Applied
from controller.reconcile.actions.rollback import RolledBack
from controller.reconcile.actions.unlock import Unlocked
from controller.reconcile.attempt import Attempt
from controller.reconcile.decide import Action, Decision
from controller.reconcile.report import Report, Tell
from controller.releases import ObservedRelease
from controller.status import Condition, render_status

SECRET = "values-secret-never-shown"
SPEC = ReleaseSpec(
    group="flux.weave.works",
    namespace="default",
    name="rabbit",
    release_name="rabbitmq",
    target_namespace="apps",
    chart=ChartSpec("https://charts.example.com/", "rabbitmq", "3.3.6"),
    values={"password": SECRET},
)
RELEASE = SPEC.release
CHART = FetchedChart(Path("rabbitmq-3.3.6.tgz"), "c" * 64, "rabbitmq", "3.3.6", "https://x")
ATTEMPT = Attempt.of(SPEC, CHART)
TESTED = Attempt.of(replace(SPEC, test=TestPolicy(enable=True)), CHART)
IGNORING = Attempt.of(replace(SPEC, test=TestPolicy(enable=True, ignore_failures=True)), CHART)
RETRYING = Attempt.of(
    replace(SPEC, rollback=RollbackPolicy(enable=True, retry=True, max_retries=1)), CHART
)
OLD = ReleaseKey("apps", "old-name")
REFUSED = (
    'UPGRADE FAILED: cannot patch "web" with kind Deployment: Deployment.apps "web" is '
    "invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
)
UNREACHABLE = "Kubernetes cluster unreachable: Get https://10.0.0.1/version: connection refused"


def helm(ok: bool = True, *, timed_out: bool = False, error: str = "") -> HelmResult:
    code = None if timed_out else (0 if ok else 1)
    return HelmResult("upgrade", ok, code, timed_out, 1.0, error)


def record(revision: int = 2, status: str = "deployed") -> ObservedRelease:
    return ObservedRelease(RELEASE, revision, status)


@dataclass(frozen=True)
class Row:
    report: Report
    outcome: Outcome
    labels: tuple[str, str]
    """Metric labels (action, result)."""
    ready: tuple[str, str] | None
    """(status, reason) of Ready once the report's status is rendered over the status of
    a release that was Ready; None: the report has no status."""
    event: tuple[str, bool] | None
    """(reason, warning) of the Event; None: no Event."""
    kstatus: str | None = None
    """What kstatus (kubectl wait, Flux and Argo health checks) reads from the status:
    InProgress, Failed or Current; None: the report has no status."""


ROWS: dict[str, Row] = {
    "install succeeded": Row(
        apply.report(Applied(helm(), record(1)), ATTEMPT, install=True),
        Outcome.resync(),
        ("install", "success"),
        ("True", "Succeeded"),
        ("InstallSucceeded", False),
        "Current",
    ),
    "installed, tests next": Row(
        apply.report(Applied(helm(), record(1)), TESTED, install=True),
        Outcome.requeue(0.0),
        ("install", "success"),
        ("Unknown", "Testing"),
        ("InstallSucceeded", False),
        "InProgress",
    ),
    # a failure of the spec: what follows (uninstall, rollback, stop) is decided at once
    "upgrade failed": Row(
        apply.report(
            Applied(helm(False, error="boom"), record(3, "failed"), 2), ATTEMPT, install=False
        ),
        Outcome.requeue(0.0),
        ("upgrade", "error"),
        ("False", "DeployFailed"),
        ("UpgradeFailed", True),
        "InProgress",
    ),
    "upgrade refused by the API server": Row(
        apply.report(
            Applied(helm(False, error=REFUSED), record(3, "failed"), 2), ATTEMPT, install=False
        ),
        Outcome.requeue(0.0),
        ("upgrade", "error"),
        ("False", "DeployFailed"),
        ("UpgradeFailed", True),
        "InProgress",
    ),
    "install failed, no record": Row(
        apply.report(Applied(helm(False), None), ATTEMPT, install=True),
        Outcome.requeue(0.0),
        ("install", "error"),
        ("False", "DeployFailed"),
        ("InstallFailed", True),
        "InProgress",
    ),
    # the API server could not be reached and nothing was recorded: retried with backoff
    "upgrade failed, API unreachable": Row(
        apply.report(Applied(helm(False, error=UNREACHABLE), record(2), 2), ATTEMPT, install=False),
        Outcome.retry(),
        ("upgrade", "error"),
        ("False", "DeployFailed"),
        ("UpgradeFailed", True),
        "InProgress",
    ),
    "tests passed": Row(
        chart_tests.report(helm(), TESTED, record(2)),
        Outcome.resync(),
        ("test", "success"),
        ("True", "Succeeded"),
        ("TestSucceeded", False),
        "Current",
    ),
    "tests failed": Row(
        chart_tests.report(helm(False, error="pod rabbit-test failed"), TESTED, record(2)),
        Outcome.requeue(0.0),
        ("test", "error"),
        ("False", "TestFailed"),
        ("TestFailed", True),
        "InProgress",
    ),
    "tests failed, ignored": Row(
        chart_tests.report(helm(False, error="pod rabbit-test failed"), IGNORING, record(2)),
        Outcome.resync(),
        ("test", "error"),
        ("True", "Succeeded"),
        ("TestFailed", True),
        "Current",
    ),
    "tests could not reach the API server": Row(
        chart_tests.report(helm(False, error=UNREACHABLE), TESTED, record(2)),
        Outcome.retry(),
        ("test", "error"),
        ("Unknown", "ProgressingWithRetry"),
        ("TestFailed", True),
        "InProgress",
    ),
    "rolled back, upgrade retried": Row(
        rollback.report(RolledBack(helm(), 2, record(4), 3), RETRYING, 0),
        Outcome.retry(),
        ("rollback", "success"),
        ("Unknown", "ProgressingWithRetry"),
        ("RolledBack", False),
        "InProgress",
    ),
    "rolled back, retries used up": Row(
        rollback.report(RolledBack(helm(), 2, record(4), 3), RETRYING, 1),
        Outcome.requeue(0.0),
        ("rollback", "success"),
        ("Unknown", "RolledBack"),
        ("RolledBack", False),
        "InProgress",
    ),
    "rolled back, recreate not honoured": Row(
        rollback.report(
            RolledBack(helm(), 2, record(4), 3, ("rollback.recreate: helm 4 cannot",)), ATTEMPT, 0
        ),
        Outcome.requeue(0.0),
        ("rollback", "success"),
        ("Unknown", "RolledBack"),
        ("RolledBack", True),
        "InProgress",
    ),
    "rollback failed": Row(
        rollback.report(RolledBack(helm(False, error="no"), 2, record(4, "failed"), 3), ATTEMPT, 0),
        Outcome.requeue(0.0),
        ("rollback", "error"),
        ("False", "DeployFailed"),
        ("RollbackFailed", True),
        "InProgress",
    ),
    "rollback failed without a revision": Row(
        rollback.report(RolledBack(helm(False, error="no"), 2, record(3), 3), ATTEMPT, 0),
        Outcome.retry(),
        ("rollback", "error"),
        ("Unknown", "RollbackFailed"),
        ("RollbackFailed", True),
        "InProgress",
    ),
    "nothing to roll back to": Row(
        rollback.report(RolledBack(None, None, record(1, "failed"), 1), ATTEMPT, 0),
        Outcome.requeue(0.0),
        ("rollback", "error"),
        ("False", "DeployFailed"),
        ("RollbackFailed", True),
        "InProgress",
    ),
    "failed install purged": Row(
        purge.report(helm(), ATTEMPT),
        Outcome.requeue(0.0),
        ("uninstall", "success"),
        ("False", "DeployFailed"),
        ("Uninstalled", False),
        "InProgress",
    ),
    "purge failed": Row(
        purge.report(helm(False, error="stuck"), ATTEMPT),
        Outcome.retry(),
        ("uninstall", "error"),
        ("Unknown", "ProgressingWithRetry"),
        ("UninstallFailed", True),
        "InProgress",
    ),
    "suspended": Row(
        suspended.report(),
        Outcome.resync(),
        ("none", "noop"),
        ("True", "Succeeded"),  # Ready stays what it was: the release is left as it is
        ("Suspended", False),
        "Current",
    ),
    "stopped": Row(
        stop.report(Decision(Action.STOP, "the upgrade of this spec failed"), ATTEMPT, None),
        Outcome.resync(),
        ("none", "noop"),
        ("False", "RetriesExceeded"),
        ("RetriesExceeded", True),
        "Failed",
    ),
    "uninstalled": Row(
        uninstall.report(helm(), OLD, 300.0),
        Outcome.resync(),
        ("uninstall", "success"),
        None,
        ("Uninstalled", False),
    ),
    "uninstall failed": Row(
        uninstall.report(helm(False, error="stuck"), OLD, 300.0),
        Outcome.retry(),
        ("uninstall", "error"),
        ("False", "UninstallFailed"),
        ("UninstallFailed", True),
        "InProgress",
    ),
    "unlocked": Row(
        unlock.report(Unlocked(record(4, "pending-upgrade")), ATTEMPT),
        Outcome.requeue(0.0),
        ("unlock", "success"),
        ("Unknown", "Unlocked"),
        ("Unlocked", False),
        "InProgress",
    ),
    "unlock failed": Row(
        unlock.report(Unlocked(record(4, "pending-upgrade"), "conflict"), ATTEMPT),
        Outcome.retry(),
        ("unlock", "error"),
        ("False", "UnlockFailed"),
        ("UnlockFailed", True),
        "InProgress",
    ),
    "waiting for a lock": Row(
        wait.report(Decision(Action.WAIT, "release is pending-upgrade", 42.0), ATTEMPT),
        Outcome.requeue(42.0),
        ("none", "requeue"),
        ("Unknown", "ReleaseLocked"),
        None,
        "InProgress",
    ),
    "waiting while deleting": Row(
        wait.report(Decision(Action.WAIT, "release is pending-upgrade", 5.0), None),
        Outcome.requeue(5.0),
        ("none", "requeue"),
        ("Unknown", "ReleaseLocked"),
        None,
        "InProgress",
    ),
    "refused": Row(
        refuse.report(Decision(Action.REFUSE, "release belongs to HelmRelease a/b"), ATTEMPT),
        Outcome.resync(),
        ("none", "error"),
        ("False", "ReleaseRefused"),
        ("ReleaseRefused", True),
        "Failed",
    ),
    "in sync, Released lost": Row(
        in_sync.report(ATTEMPT, record(), released_shown=False),
        Outcome.resync(),
        ("none", "noop"),
        ("True", "Succeeded"),
        None,
        "Current",
    ),
    "adopted in sync": Row(
        adopt.report(Adopted(record(4)), ATTEMPT),
        Outcome.resync(),
        ("adopt", "success"),
        ("True", "Succeeded"),
        ("Adopted", False),
        "Current",
    ),
    "adopted, to be upgraded": Row(
        adopt.report(Adopted(record(4), "its values are not the spec's"), ATTEMPT),
        Outcome.requeue(0.0),
        ("adopt", "success"),
        ("Unknown", "Adopted"),
        ("Adopted", False),
        "InProgress",
    ),
    "adopt failed": Row(
        adopt.report(Adopted(None, error="409 Conflict: changed"), ATTEMPT),
        Outcome.retry(),
        ("adopt", "error"),
        ("Unknown", "ProgressingWithRetry"),
        ("AdoptFailed", True),
        "InProgress",
    ),
    "moved": Row(
        moved.report(OLD, ATTEMPT),
        Outcome.requeue(0.0),
        ("uninstall", "success"),
        ("Unknown", "ReleaseMoved"),
        None,
        "InProgress",
    ),
    "invalid spec": Row(
        invalid.report(SpecError("spec.timeout", "must be a positive number of seconds")),
        Outcome.resync(),
        ("none", "error"),
        ("False", "InvalidSpec"),
        ("InvalidSpec", True),
        "Failed",
    ),
    "feature not built": Row(
        invalid.report(SpecError("spec.valuesFrom", "not supported yet", NOT_SUPPORTED)),
        Outcome.resync(),
        ("none", "error"),
        ("False", "NotSupported"),
        ("NotSupported", True),
        "Failed",
    ),
    "chart failed, retryable": Row(
        chart_failed.report(ChartError("RepositoryUnavailable", "503 from repository", True)),
        Outcome.retry(),
        ("none", "error"),
        ("False", "ChartFetchFailed"),
        ("ChartFetchFailed", True),
        "InProgress",
    ),
    "chart failed for good": Row(
        chart_failed.report(ChartError("ChartNotFound", "no version 9.9.9", False)),
        Outcome.resync(),
        ("none", "error"),
        ("False", "ChartFetchFailed"),
        ("ChartFetchFailed", True),
        "Failed",
    ),
    "API failed": Row(
        api_failed.report(ApiError(500, "InternalError", "etcd timeout")),
        Outcome.retry(),
        ("none", "error"),
        ("Unknown", "ApiError"),
        ("ReconcileError", True),
        "InProgress",
    ),
    "finalizer removed": Row(
        finalizer.removed(), Outcome.forget(), ("uninstall", "success"), None, None
    ),
    "not ours to hold": Row(finalizer.released(), Outcome.forget(), ("none", "noop"), None, None),
}


def rendered(report: Report, previous: Any = None) -> dict[str, Any]:
    assert report.status is not None
    return render_status(previous, report.status, generation=3, now="2026-01-01T00:00:00Z")


def ready_release() -> dict[str, Any]:
    """The status of a release that was installed and is Ready."""
    return rendered(ROWS["install succeeded"].report)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def kstatus(status: dict[str, Any], generation: int = 3) -> str:
    """kstatus' rules for a resource with conditions: a status about an older generation
    or Reconciling=True is InProgress, Stalled=True is Failed, anything else Current."""
    found = conditions(status)
    if status.get("observedGeneration") != generation:
        return "InProgress"
    if found.get("Reconciling", {}).get("status") == "True":
        return "InProgress"
    if found.get("Stalled", {}).get("status") == "True":
        return "Failed"
    return "Current"


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_report(row: Row) -> None:
    report = row.report
    assert report.outcome == row.outcome
    assert (report.action, report.result) == row.labels
    if row.ready is None:
        assert report.status is None
    else:
        status = rendered(report, ready_release())
        ready = conditions(status)["Ready"]
        assert (ready["status"], ready["reason"]) == row.ready
        assert kstatus(status) == row.kstatus
    if row.event is None:
        assert report.event is None
    else:
        assert report.event is not None
        assert (report.event.reason, report.event.warning) == row.event


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_reports_never_show_values(row: Row) -> None:
    assert SECRET not in repr(row.report)


@pytest.mark.parametrize(
    "make",
    [
        lambda: refuse.report(Decision(Action.REFUSE, "not ours"), ATTEMPT),
        lambda: invalid.report(SpecError("spec.chart", "is required")),
        lambda: stop.report(
            Decision(Action.STOP, "the upgrade of this spec failed"), ATTEMPT, None
        ),
    ],
    ids=["refused", "invalid", "stopped"],
)
def test_standing_problems_are_told_once(make: Callable[[], Report]) -> None:
    """Told when the status first says it, not again on every resync."""
    assert make().tell is Tell.ON_CHANGE


def test_news_is_told_every_time() -> None:
    news = [row.report for row in ROWS.values() if row.report.event is not None]
    assert {report.tell for report in news} - {Tell.ON_CHANGE} == {Tell.ALWAYS}
    assert [r for r in news if r.tell is Tell.ON_CHANGE] == [
        ROWS["suspended"].report,
        ROWS["stopped"].report,
        ROWS["refused"].report,
        ROWS["invalid spec"].report,
        ROWS["feature not built"].report,
    ]


def test_a_successful_apply_records_the_release_and_what_was_applied() -> None:
    status = rendered(ROWS["install succeeded"].report)
    assert (status["phase"], status["releaseStatus"]) == ("Succeeded", "deployed")
    # helm-operator's revision is the chart version; helm's own number is kept beside it
    assert (status["revision"], status["lastReleaseRevision"]) == ("3.3.6", 1)
    assert status["lastAppliedDigest"] == ATTEMPT.desired
    assert (status["releaseName"], status["targetNamespace"]) == ("rabbitmq", "apps")
    assert status["lastAttemptedRevision"] == "3.3.6"
    released = conditions(status)["Released"]
    assert (
        released["message"] == "installed chart rabbitmq 3.3.6 as release apps/rabbitmq, revision 1"
    )


def test_a_failed_apply_never_claims_the_applied_digest() -> None:
    status = rendered(ROWS["upgrade failed"].report, {"lastAppliedDigest": "earlier"})
    assert status["lastAppliedDigest"] == "earlier"  # what was applied before stays
    assert (status["phase"], status["lastReleaseRevision"], status["releaseStatus"]) == (
        "DeployFailed",
        3,
        "failed",
    )
    assert "revision" not in status  # the chart version deployed: none yet
    assert conditions(status)["Deployed"]["reason"] == "DeployFailed"
    assert conditions(status)["Released"]["reason"] == "DeployFailed"
    message = conditions(status)["Released"]["message"]
    assert message == "upgrade of chart rabbitmq 3.3.6 as release apps/rabbitmq failed: boom"


def test_a_helm_that_ran_out_of_time_says_so() -> None:
    report = apply.report(Applied(helm(False, timed_out=True), None), ATTEMPT, install=False)
    assert report.event is not None
    assert report.event.note.endswith("helm did not finish within its 300s timeout and was stopped")
    assert conditions(rendered(report))["Deployed"]["status"] == "False"


@pytest.mark.parametrize(("install", "phase"), [(True, "Installing"), (False, "Upgrading")])
def test_progress_is_shown_from_the_first_pickup(install: bool, phase: str) -> None:
    """A new HelmRelease reads as in progress while its first install runs."""
    update = apply.progress(ATTEMPT, "values changed", install=install)
    status = render_status({}, update, generation=3, now="2026-01-01T00:00:00Z")
    assert (status["phase"], status["lastAttemptedRevision"]) == (phase, "3.3.6")
    assert (conditions(status)["Ready"]["status"], conditions(status)["Ready"]["reason"]) == (
        "Unknown",
        phase,
    )
    assert (conditions(status)["Deployed"]["status"], conditions(status)["Deployed"]["reason"]) == (
        "Unknown",
        phase,
    )
    assert kstatus(status) == "InProgress"


def test_a_status_of_an_older_generation_is_in_progress() -> None:
    assert kstatus(ready_release(), generation=4) == "InProgress"


def test_in_sync_keeps_the_reason_of_the_action_that_released_it() -> None:
    previous = ready_release()
    report = in_sync.report(ATTEMPT, record(1), released_shown=True)
    status = rendered(report, previous)
    assert conditions(status)["Ready"]["reason"] == "Succeeded"
    assert status == previous  # nothing to write


def test_a_move_forgets_the_old_release_and_names_the_new_one() -> None:
    previous = {
        "revision": "3.3.6",
        "lastReleaseRevision": 7,
        "releaseStatus": "deployed",
        "lastAppliedDigest": "d",
    }
    status = rendered(ROWS["moved"].report, previous)
    assert not previous.keys() & status.keys()
    assert (status["releaseName"], status["targetNamespace"]) == ("rabbitmq", "apps")
    assert (
        "moved from apps/old-name to apps/rabbitmq" in conditions(status)["Reconciling"]["message"]
    )


def test_waiting_while_deleting_says_nothing_about_a_chart() -> None:
    status = rendered(ROWS["waiting while deleting"].report)
    assert "ChartFetched" not in conditions(status)
    assert "lastAttemptedRevision" not in status


def test_a_new_helmrelease_without_a_status_is_in_progress() -> None:
    """Before its first status is written, kstatus reads it as in progress, never Current."""
    assert kstatus({"conditions": []}) == "InProgress"


def test_an_upgrade_logs_the_value_paths_it_changed_never_the_values() -> None:
    changed = ("~ replicaCount", "+ ingress.enabled")
    report = apply.report(
        Applied(helm(), record(2), 1, changed_values=changed), ATTEMPT, install=False
    )
    assert report.log is not None
    assert report.log[1].endswith("; values changed: ~ replicaCount, + ingress.enabled")
    assert report.event is not None
    assert "values changed" not in report.event.note  # the Event tells what happened, only


def test_a_failure_of_the_spec_is_remembered_with_the_revision_it_made() -> None:
    status = rendered(ROWS["upgrade failed"].report)
    assert (status["lastFailedDigest"], status["lastFailedRevision"]) == (ATTEMPT.desired, 3)
    no_revision = rendered(ROWS["install failed, no record"].report)
    assert no_revision["lastFailedDigest"] == ATTEMPT.desired
    assert "lastFailedRevision" not in no_revision
    transient = rendered(ROWS["upgrade failed, API unreachable"].report)
    assert "lastFailedDigest" not in transient
    # refused by the API server: nothing changed, so no revision to undo (no rollback)
    refused = rendered(ROWS["upgrade refused by the API server"].report)
    assert refused["lastFailedDigest"] == ATTEMPT.desired
    assert "lastFailedRevision" not in refused
    assert (
        "refused by the API server: nothing to roll back"
        in conditions(refused)["Released"]["message"]
    )


def test_a_success_forgets_the_failure_and_the_rollbacks() -> None:
    failed = rendered(
        ROWS["rolled back, retries used up"].report, rendered(ROWS["upgrade failed"].report)
    )
    assert (failed["rollbackCount"], conditions(failed)["RolledBack"]["status"]) == (2, "True")
    status = rendered(ROWS["install succeeded"].report, failed)
    assert not {"lastFailedDigest", "lastFailedRevision", "rollbackCount"} & status.keys()
    assert "RolledBack" not in conditions(status)


def test_a_new_attempt_counts_rollbacks_from_zero_and_a_retry_keeps_counting() -> None:
    previous = {"rollbackCount": 2}
    fresh = apply.progress(ATTEMPT, "spec changed", install=False)
    retry = apply.progress(ATTEMPT, "retry", install=False, retry=True)
    assert "rollbackCount" not in render_status(previous, fresh, generation=3, now="t")
    assert render_status(previous, retry, generation=3, now="t")["rollbackCount"] == 2


def test_tests_that_passed_release_the_revision_they_tested() -> None:
    status = rendered(ROWS["tests passed"].report, rendered(ROWS["installed, tests next"].report))
    assert (status["phase"], status["lastTestedRevision"]) == ("Succeeded", 2)
    found = conditions(status)
    assert (found["Tested"]["status"], found["Released"]["status"]) == ("True", "True")


def test_ignored_test_failures_leave_the_release_released_and_say_so() -> None:
    status = rendered(ROWS["tests failed, ignored"].report)
    found = conditions(status)
    assert (found["Tested"]["status"], found["Released"]["status"]) == ("False", "True")
    assert "ignored: test.ignoreFailures" in found["Released"]["message"]
    assert "lastFailedDigest" not in status


def test_a_rollback_option_helm_cannot_honour_is_said() -> None:
    status = rendered(ROWS["rolled back, recreate not honoured"].report)
    assert "rollback.recreate: helm 4 cannot" in conditions(status)["RolledBack"]["message"]


def test_a_stop_repeats_why_the_release_failed() -> None:
    failed = rendered(ROWS["upgrade failed"].report)
    released = Condition("Released", "False", "DeployFailed", "upgrade of x failed: boom")
    report = stop.report(
        Decision(Action.STOP, "the upgrade of this spec failed"), ATTEMPT, released
    )
    ready = conditions(rendered(report, failed))["Ready"]
    assert ready["message"].startswith("upgrade of x failed: boom; not tried again until")


def test_a_chart_still_being_fetched_is_progress_not_failure() -> None:
    waiting = ChartError("StillFetching", "waiting for chart rabbitmq 3.3.6 from x", True)
    report = chart_failed.report(waiting)
    status = rendered(report, ready_release())
    found = conditions(status)
    assert (found["Reconciling"]["status"], found["Reconciling"]["reason"]) == (
        "True",
        "FetchingChart",
    )
    assert found["ChartFetched"]["status"] == "Unknown"
    assert found["Released"]["status"] == "True"  # what was released stands
    assert report.outcome == Outcome.requeue(chart_failed.FETCH_RECHECK)
    assert (report.tell, report.result) == (Tell.ON_CHANGE, "requeue")
    assert kstatus(status) == "InProgress"
