"""The pure core of a reconcile: release state from an observation, action from a state.

Every ReleaseState is produced from its situation (table), and ``decide`` maps every
state x (deleting, helm running, lock age) row to exactly one action; ``dependsOn``
is checked against the cache (Ready, missing, a cycle named in full).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any

import pytest

from controller.api import ChartSpec, ReleaseOptions, ReleaseSpec, RollbackPolicy, owner_labels
from controller.keys import ObjectKey, ReleaseKey
from controller.reconcile.decide import LOCK_RECHECK, Action, decide
from controller.reconcile.dependencies import Cycle, Unready, check
from controller.reconcile.state import (
    Assessment,
    Observation,
    Recorded,
    ReleaseState,
    antecedent_of,
    assess,
    desired_digest,
    digest_label,
    owner_of,
    release_labels,
    shown_antecedent,
    unclaimed,
)

RELEASE = ReleaseKey("apps", "rabbitmq")
DESIRED = "d" * 64
OWNER = ObjectKey("flux.weave.works", "default", "rabbit")
OURS = release_labels(OWNER, DESIRED)


@dataclass(frozen=True)
class Record:
    revision: int = 3
    status: str = "deployed"
    labels: Mapping[str, str] = field(default_factory=lambda: dict(OURS))
    created_at: float | None = 1000.0


IN_SYNC = Observation(
    owner=OWNER,
    release=RELEASE,
    recorded=Recorded(release=RELEASE, revision=3, applied_digest=DESIRED),
    observed=Record(),
    desired_digest=DESIRED,
)


def observed(**changes: Any) -> Observation:
    return replace(IN_SYNC, observed=replace(Record(), **changes))


THIS = "default:helmrelease/rabbit"
"""helm-operator's antecedent annotation naming OWNER."""


def unlabelled(*antecedents: str, **changes: Any) -> Observation:
    """A release without owner labels whose resources carry these antecedents (helm-operator's,
    nothing recorded in our status)."""
    return replace(
        observed(labels={}, **changes), recorded=Recorded(), antecedents=tuple(antecedents)
    )


def recorded(**changes: Any) -> Observation:
    return replace(IN_SYNC, recorded=replace(IN_SYNC.recorded, **changes))


@pytest.mark.parametrize(
    ("observation", "state", "reason"),
    [
        (IN_SYNC, ReleaseState.IN_SYNC, "revision 3 is deployed and up to date"),
        (replace(IN_SYNC, observed=None), ReleaseState.ABSENT, "apps/rabbitmq does not exist"),
        (observed(status="uninstalled"), ReleaseState.ABSENT, "does not exist"),
        # never installed by us: nothing recorded, nothing there
        (replace(IN_SYNC, observed=None, recorded=Recorded()), ReleaseState.ABSENT, "not exist"),
        (observed(labels={}), ReleaseState.FOREIGN, "was not installed by a HelmRelease"),
        (
            observed(labels=owner_labels("flux.weave.works", "other", "rabbit")),
            ReleaseState.FOREIGN,
            "belongs to HelmRelease other/rabbit",
        ),
        (
            observed(labels=owner_labels("helm.fluxcd.io", "default", "rabbit")),
            ReleaseState.FOREIGN,
            "belongs to HelmRelease default/rabbit of helm.fluxcd.io",
        ),
        (
            observed(
                labels=owner_labels("flux.weave.works", "default", "hare"), status="pending-install"
            ),
            ReleaseState.FOREIGN,
            "belongs to HelmRelease default/hare",
        ),
        # helm-operator's releases: its antecedent annotation on their resources
        (unlabelled(THIS), ReleaseState.ADOPTABLE, "installed by helm-operator for this"),
        (unlabelled(THIS, status="failed"), ReleaseState.ADOPTABLE, "by helm-operator"),
        (unlabelled(THIS, status="pending-upgrade"), ReleaseState.ADOPTABLE, "helm-operator"),
        (unlabelled(THIS, revision=9), ReleaseState.ADOPTABLE, "by helm-operator"),
        (
            unlabelled("team-b:helmrelease/rabbit"),
            ReleaseState.FOREIGN,
            "belongs to HelmRelease team-b/rabbit (helm-operator annotation)",
        ),
        (unlabelled("default:helmrelease/hare"), ReleaseState.FOREIGN, "HelmRelease default/hare"),
        # any other HelmRelease named is enough to refuse (helm-operator's rule too)
        (
            unlabelled("default:helmrelease/hare", THIS),
            ReleaseState.FOREIGN,
            "HelmRelease default/hare (helm-operator annotation)",
        ),
        (unlabelled("not an antecedent"), ReleaseState.FOREIGN, "HelmRelease not an antecedent"),
        # no annotation anywhere, or not looked for: nobody's release is never taken
        (unlabelled(), ReleaseState.FOREIGN, "exists and was not installed by a HelmRelease"),
        (
            replace(unlabelled(), antecedents=None),
            ReleaseState.FOREIGN,
            "was not installed by a HelmRelease",
        ),
        # owner labels win over any annotation
        (
            replace(
                observed(labels=owner_labels("flux.weave.works", "other", "rabbit")),
                antecedents=(THIS,),
            ),
            ReleaseState.FOREIGN,
            "belongs to HelmRelease other/rabbit",
        ),
        (replace(IN_SYNC, antecedents=("team-b:helmrelease/x",)), ReleaseState.IN_SYNC, "deployed"),
        (
            replace(unlabelled(THIS), recorded=Recorded(release=ReleaseKey("apps", "old"))),
            ReleaseState.MOVED,
            "moved from apps/old",
        ),
        (replace(unlabelled(THIS), observed=None), ReleaseState.ABSENT, "does not exist"),
        (unlabelled(THIS, status="uninstalled"), ReleaseState.ABSENT, "does not exist"),
        (observed(status="pending-install"), ReleaseState.LOCKED, "is pending-install"),
        (observed(status="pending-upgrade"), ReleaseState.LOCKED, "revision 3 is pending-upgrade"),
        (observed(status="pending-rollback"), ReleaseState.LOCKED, "is pending-rollback"),
        (observed(status="failed"), ReleaseState.FAILED, "revision 3 failed"),
        # failed with an unchanged digest is still FAILED (retried by an upgrade)
        (replace(observed(status="failed"), desired_digest=DESIRED), ReleaseState.FAILED, "failed"),
        (observed(status="superseded"), ReleaseState.OUT_OF_SYNC, "is superseded"),
        (observed(status="uninstalling"), ReleaseState.OUT_OF_SYNC, "is uninstalling"),
        # a manual helm upgrade/rollback made a revision we did not record
        (observed(revision=4), ReleaseState.OUT_OF_SYNC, "changed outside the operator"),
        (recorded(revision=None), ReleaseState.OUT_OF_SYNC, "changed outside the operator"),
        (
            replace(IN_SYNC, desired_digest="e" * 64),
            ReleaseState.OUT_OF_SYNC,
            "chart, values or release options changed",
        ),
        (recorded(applied_digest=None), ReleaseState.OUT_OF_SYNC, "options changed"),
        (
            observed(labels={**OURS, "helmreleases.flux.weave.works/digest": "x" * 32}),
            ReleaseState.OUT_OF_SYNC,
            "options changed",
        ),
        (
            recorded(release=ReleaseKey("apps", "old-name")),
            ReleaseState.MOVED,
            "moved from apps/old-name to apps/rabbitmq",
        ),
        (
            replace(recorded(release=ReleaseKey("default", "rabbitmq")), observed=None),
            ReleaseState.MOVED,
            "the old release is uninstalled first",
        ),
    ],
)
def test_assess(observation: Observation, state: ReleaseState, reason: str) -> None:
    assessment = assess(observation)
    assert assessment.state == state
    assert reason in assessment.reason


@pytest.mark.parametrize("api_group", ["flux.weave.works", "helm.fluxcd.io"])
def test_helm_operators_annotation_names_a_helmrelease_of_either_api(api_group: str) -> None:
    owner = replace(OWNER, group=api_group)
    assert antecedent_of(owner) == THIS
    assert assess(replace(unlabelled(THIS), owner=owner)).state is ReleaseState.ADOPTABLE


@pytest.mark.parametrize(
    ("record", "read"),
    [
        (None, False),
        (Record(), False),  # ours
        (Record(labels=owner_labels("helm.fluxcd.io", "other", "x")), False),  # another's
        (Record(labels={}, status="uninstalled"), False),  # gone
        (Record(labels={}), True),
        (Record(labels={"team": "a"}), True),  # custom labels are no owner
        (Record(labels={}, status="pending-install"), True),
    ],
)
def test_evidence_is_read_only_for_releases_without_owner_labels(
    record: Record | None, read: bool
) -> None:
    assert unclaimed(record) is read


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("team-b:helmrelease/podinfo", "team-b/podinfo"),
        ("<cluster>:helmrelease/x", "<cluster>/x"),
        ("ns:deployment/x", "ns:deployment/x"),
        ("x" * 500, "x" * 120 + "..."),
    ],
)
def test_the_helmrelease_an_annotation_names_is_shown_briefly(value: str, shown: str) -> None:
    assert shown_antecedent(value) == shown


def test_generation_alone_does_not_leave_sync() -> None:
    """Nothing generation-related is an input: a no-op metadata change stays IN_SYNC."""
    assert assess(IN_SYNC).state == ReleaseState.IN_SYNC


def spec(**changes: Any) -> ReleaseSpec:
    base = ReleaseSpec(
        group="flux.weave.works",
        namespace="default",
        name="rabbit",
        release_name="rabbitmq",
        target_namespace="apps",
        chart=ChartSpec("https://charts.example.com/", "rabbitmq", "3.3.6"),
        values={"replicas": 1},
    )
    return replace(base, **changes)


RENDERER = {"kustomize": {"patches": [], "images": [{"name": "nginx", "newTag": "1.27"}]}}
"""One post-renderer, in the normalised form ``spec.postRenderers`` is parsed into."""


def other_than_default(option: Field[Any]) -> Any:
    """A value of a release option that differs from its default."""
    default = option.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, tuple):
        return (RENDERER,)
    return default + 1


@pytest.mark.parametrize(
    "changed",
    [
        spec(release_name="other"),
        spec(target_namespace="other"),
        *(
            spec(options=replace(ReleaseOptions(), **{option.name: other_than_default(option)}))
            for option in fields(ReleaseOptions)
        ),
    ],
)
def test_desired_digest_covers_every_option(changed: ReleaseSpec) -> None:
    assert desired_digest(changed, "c", "v") != desired_digest(spec(), "c", "v")


def test_desired_digest_is_stable_across_versions() -> None:
    """Releases installed by an earlier version of the operator are not upgraded again
    only because it was upgraded: the digest of an unchanged spec does not change.

    It changed once, in 0.2: values are reset unless the spec asks to reuse them, so a
    release whose values were reused by helm must be upgraded once to hold exactly what
    is declared (README, Upgrading); options at their defaults left the digest then, so
    that a new option never changes the digest of a release that does not set it."""
    assert desired_digest(spec(), "c", "v") == (
        "602e6e40c67617cb5228984845f2f93f78faa222e36fad9cf79c4bff5c884d50"
    )


def test_desired_digest_covers_chart_and_values_but_not_the_values_inline() -> None:
    base = desired_digest(spec(), "c", "v")
    assert desired_digest(spec(), "c2", "v") != base
    assert desired_digest(spec(), "c", "v2") != base
    # values enter through their digest only
    assert desired_digest(spec(values={"replicas": 9}), "c", "v") == base


def test_release_labels_carry_owner_and_digest_prefix() -> None:
    assert OURS == {
        "helmreleases.flux.weave.works/owner-namespace": "default",
        "helmreleases.flux.weave.works/owner-name": "rabbit",
        "helmreleases.flux.weave.works/digest": "d" * 32,
    }
    assert digest_label(DESIRED) == "d" * 32
    assert owner_of(OURS) == "default/rabbit"
    assert owner_of({}) is None


def test_long_owner_names_are_recognised_after_shortening() -> None:
    name = "n" * 80
    owner = replace(OWNER, name=name)
    labels = release_labels(owner, DESIRED)
    assert len(labels["helmreleases.flux.weave.works/owner-name"]) == 63
    observation = replace(IN_SYNC, owner=owner, observed=Record(labels=labels))
    assert assess(observation).state == ReleaseState.IN_SYNC


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, Recorded()),
        ("junk", Recorded()),
        ({}, Recorded()),
        (
            {
                "releaseName": "r",
                "targetNamespace": "ns",
                "revision": 2,
                "lastAppliedDigest": "abc",
            },
            Recorded(ReleaseKey("ns", "r"), 2, "abc"),
        ),
        ({"releaseName": "r"}, Recorded()),  # half a key is no key
        ({"releaseName": 5, "targetNamespace": "ns"}, Recorded()),
        # user-edited names that are no release: never put into a label selector
        ({"releaseName": "r,owner!=helm", "targetNamespace": "ns"}, Recorded()),
        ({"releaseName": "r", "targetNamespace": "ns/../other"}, Recorded()),
        ({"releaseName": "R", "targetNamespace": "ns"}, Recorded()),
        ({"releaseName": "r" * 54, "targetNamespace": "ns"}, Recorded()),
        ({"releaseName": "r", "targetNamespace": "n" * 64}, Recorded()),
        (
            {"releaseName": "r" * 53, "targetNamespace": "n" * 63},
            Recorded(ReleaseKey("n" * 63, "r" * 53)),
        ),
        ({"revision": "2"}, Recorded()),
        ({"revision": True}, Recorded()),
        ({"lastAppliedDigest": 7}, Recorded()),
        (
            {
                "lastFailedDigest": "f",
                "lastFailedRevision": 4,
                "rollbackCount": 2,
                "lastTestedRevision": 3,
                "lastHandledReconcileAt": "now",
            },
            Recorded(
                failed_digest="f",
                failed_revision=4,
                rollbacks=2,
                tested_revision=3,
                handled_request="now",
            ),
        ),
        ({"rollbackCount": "2", "lastFailedRevision": 1.5, "lastFailedDigest": 1}, Recorded()),
    ],
)
def test_recorded_is_read_tolerantly(status: object, expected: Recorded) -> None:
    assert Recorded.from_status(status) == expected


def state(kind: ReleaseState) -> Assessment:
    return Assessment(kind, "why")


TIMEOUT = 300.0
ALL_STATES = list(ReleaseState)


@pytest.mark.parametrize(
    ("kind", "deleting", "running", "locked_for", "action", "after"),
    [
        # reconciling a live HelmRelease
        (ReleaseState.ABSENT, False, False, None, Action.INSTALL, 0.0),
        (ReleaseState.OUT_OF_SYNC, False, False, None, Action.UPGRADE, 0.0),
        (ReleaseState.FAILED, False, False, None, Action.UPGRADE, 0.0),
        (ReleaseState.IN_SYNC, False, False, None, Action.NONE, 0.0),
        (ReleaseState.FOREIGN, False, False, None, Action.REFUSE, 0.0),
        (ReleaseState.ADOPTABLE, False, False, None, Action.ADOPT, 0.0),
        (ReleaseState.MOVED, False, False, None, Action.UNINSTALL, 0.0),
        # locked: wait while helm may still hold it, unlock once stale
        (ReleaseState.LOCKED, False, True, 1000.0, Action.WAIT, LOCK_RECHECK),
        (ReleaseState.LOCKED, False, True, None, Action.WAIT, LOCK_RECHECK),
        (ReleaseState.LOCKED, False, False, 100.0, Action.WAIT, 200.0),
        (ReleaseState.LOCKED, False, False, 298.0, Action.WAIT, LOCK_RECHECK),
        (ReleaseState.LOCKED, False, False, 300.0, Action.UNLOCK, 0.0),
        (ReleaseState.LOCKED, False, False, 5000.0, Action.UNLOCK, 0.0),
        (ReleaseState.LOCKED, False, False, None, Action.UNLOCK, 0.0),
        # deleting the HelmRelease
        (ReleaseState.ABSENT, True, False, None, Action.NONE, 0.0),
        (ReleaseState.FOREIGN, True, False, None, Action.NONE, 0.0),
        # helm-operator uninstalled the release of a deleted HelmRelease: so do we
        (ReleaseState.ADOPTABLE, True, False, None, Action.UNINSTALL, 0.0),
        (ReleaseState.IN_SYNC, True, False, None, Action.UNINSTALL, 0.0),
        (ReleaseState.OUT_OF_SYNC, True, False, None, Action.UNINSTALL, 0.0),
        (ReleaseState.FAILED, True, False, None, Action.UNINSTALL, 0.0),
        (ReleaseState.MOVED, True, False, None, Action.UNINSTALL, 0.0),
        (ReleaseState.LOCKED, True, False, 5000.0, Action.UNINSTALL, 0.0),
        (ReleaseState.LOCKED, True, False, 10.0, Action.WAIT, 290.0),
        (ReleaseState.LOCKED, True, True, 5000.0, Action.WAIT, LOCK_RECHECK),
    ],
)
def test_decide(
    kind: ReleaseState,
    deleting: bool,
    running: bool,
    locked_for: float | None,
    action: Action,
    after: float,
) -> None:
    decision = decide(
        state(kind),
        deleting=deleting,
        helm_running=running,
        locked_for=locked_for,
        timeout=TIMEOUT,
    )
    assert (decision.action, decision.after) == (action, after)
    assert decision.reason.startswith("why")


@pytest.mark.parametrize("kind", ALL_STATES)
@pytest.mark.parametrize("deleting", [False, True])
@pytest.mark.parametrize("running", [False, True])
def test_running_helm_only_matters_for_locked_releases(
    kind: ReleaseState, deleting: bool, running: bool
) -> None:
    decision = decide(
        state(kind), deleting=deleting, helm_running=running, locked_for=None, timeout=TIMEOUT
    )
    if kind is not ReleaseState.LOCKED:
        idle = decide(
            state(kind), deleting=deleting, helm_running=False, locked_for=None, timeout=TIMEOUT
        )
        assert decision == idle
    assert (decision.action is Action.WAIT) == (kind is ReleaseState.LOCKED and running)


@pytest.mark.parametrize("kind", ALL_STATES)
def test_deleting_never_installs_upgrades_or_refuses(kind: ReleaseState) -> None:
    decision = decide(state(kind), deleting=True, helm_running=False, locked_for=None, timeout=1)
    assert decision.action in {Action.UNINSTALL, Action.NONE}


FAILED_HERE = recorded(failed_digest=DESIRED, failed_revision=4)
"""This spec's upgrade failed and left revision 4."""


def failed(record: Record | None, **changes: Any) -> Observation:
    return replace(FAILED_HERE, observed=record, recorded=replace(FAILED_HERE.recorded, **changes))


@pytest.mark.parametrize(
    ("observation", "state", "reason"),
    [
        # the failed upgrade's revision is the latest: remediate it
        (failed(Record(revision=4, status="failed")), ReleaseState.UPGRADE_FAILED, "upgrade"),
        # its tests failed: the revision is deployed, and still the failed one
        (failed(Record(revision=4)), ReleaseState.UPGRADE_FAILED, "revision 4 is deployed"),
        # a first install failed (or its tests did): uninstalled, not rolled back
        (
            failed(Record(revision=1, status="failed"), failed_revision=1),
            ReleaseState.INSTALL_FAILED,
            "the install of this spec failed",
        ),
        (failed(Record(revision=1), failed_revision=1), ReleaseState.INSTALL_FAILED, "install"),
        # uninstalled after the failed install, or the install left nothing
        (failed(None, failed_revision=None), ReleaseState.GAVE_UP, "is not installed"),
        (failed(Record(status="uninstalled")), ReleaseState.GAVE_UP, "is not installed"),
        # rolled back (revision 5 restores 3): retried or stopped by decide
        (
            failed(Record(revision=5), rollbacks=1),
            ReleaseState.ROLLED_BACK,
            "rolled back (1 rollback)",
        ),
        # the rollback itself failed: nothing more to undo
        (failed(Record(revision=5, status="failed"), rollbacks=1), ReleaseState.GAVE_UP, "failed"),
        # failed before helm made a revision (e.g. the chart did not render): nothing to undo
        (failed(Record(revision=3), failed_revision=None), ReleaseState.GAVE_UP, "this spec"),
        # a newer revision nobody rolled back to (e.g. a manual helm): left alone too
        (failed(Record(revision=5)), ReleaseState.GAVE_UP, "revision 5 is deployed"),
        # a pending operation still comes first
        (failed(Record(revision=5, status="pending-rollback")), ReleaseState.LOCKED, "pending"),
        # another spec: tried (the failure was of the spec before)
        (
            replace(failed(Record(revision=4, status="failed")), desired_digest="e" * 64),
            ReleaseState.FAILED,
            "revision 4 failed",
        ),
        # a reconcile request not handled yet: tried again
        (
            replace(failed(Record(revision=4, status="failed")), requested_at="t1"),
            ReleaseState.FAILED,
            "failed",
        ),
        (
            replace(
                failed(Record(revision=4, status="failed"), handled_request="t1"),
                requested_at="t1",
            ),
            ReleaseState.UPGRADE_FAILED,
            "upgrade",
        ),
        # an upgrade requested by a new forceAt value, once
        (replace(IN_SYNC, force_at="t1"), ReleaseState.OUT_OF_SYNC, "forceAt"),
        (
            replace(recorded(handled_force="t1"), force_at="t1"),
            ReleaseState.IN_SYNC,
            "up to date",
        ),
        # tests: run once per revision
        (replace(IN_SYNC, tests=True), ReleaseState.UNTESTED, "tests of release apps/rabbitmq"),
        (replace(recorded(tested_revision=3), tests=True), ReleaseState.IN_SYNC, "up to date"),
        (replace(recorded(tested_revision=2), tests=True), ReleaseState.UNTESTED, "revision 3"),
        (replace(observed(status="failed"), tests=True), ReleaseState.FAILED, "failed"),
    ],
)
def test_assess_after_a_failure(observation: Observation, state: ReleaseState, reason: str) -> None:
    assessment = assess(observation)
    assert (assessment.state, reason in assessment.reason) == (state, True)


RETRY_ONCE = RollbackPolicy(enable=True, retry=True, max_retries=1)


@pytest.mark.parametrize(
    ("kind", "policy", "rollbacks", "action", "retry"),
    [
        (ReleaseState.UNTESTED, RollbackPolicy(), 0, Action.TEST, False),
        (ReleaseState.INSTALL_FAILED, RollbackPolicy(), 0, Action.PURGE, False),
        # a failed install is uninstalled, never rolled back (helm-operator's rule)
        (ReleaseState.INSTALL_FAILED, RETRY_ONCE, 0, Action.PURGE, False),
        (ReleaseState.UPGRADE_FAILED, RollbackPolicy(), 0, Action.STOP, False),
        (ReleaseState.UPGRADE_FAILED, RollbackPolicy(enable=True), 0, Action.ROLLBACK, False),
        (ReleaseState.UPGRADE_FAILED, RETRY_ONCE, 1, Action.ROLLBACK, False),
        (ReleaseState.ROLLED_BACK, RollbackPolicy(enable=True), 1, Action.STOP, False),
        # maxRetries 1: one more upgrade after the first rollback, none after the second
        (ReleaseState.ROLLED_BACK, RETRY_ONCE, 1, Action.UPGRADE, True),
        (ReleaseState.ROLLED_BACK, RETRY_ONCE, 2, Action.STOP, False),
        # maxRetries 0: no limit
        (ReleaseState.ROLLED_BACK, replace(RETRY_ONCE, max_retries=0), 99, Action.UPGRADE, True),
        (ReleaseState.GAVE_UP, RETRY_ONCE, 0, Action.STOP, False),
    ],
)
def test_decide_after_a_failure(
    kind: ReleaseState, policy: RollbackPolicy, rollbacks: int, action: Action, retry: bool
) -> None:
    decision = decide(
        state(kind),
        deleting=False,
        helm_running=False,
        locked_for=None,
        timeout=TIMEOUT,
        rollback=policy,
        rollbacks=rollbacks,
    )
    assert (decision.action, decision.retry) == (action, retry)
    assert decision.reason.startswith("why")


@pytest.mark.parametrize("policy", [RollbackPolicy(), RETRY_ONCE])
@pytest.mark.parametrize("rollbacks", [0, 1, 5])
def test_a_failed_spec_never_reinstalls_and_retries_only_after_a_rollback(
    policy: RollbackPolicy, rollbacks: int
) -> None:
    """No failure state leads to an install, and an upgrade only as a counted retry."""
    for kind in (
        ReleaseState.INSTALL_FAILED,
        ReleaseState.UPGRADE_FAILED,
        ReleaseState.ROLLED_BACK,
        ReleaseState.GAVE_UP,
    ):
        decision = decide(
            state(kind),
            deleting=False,
            helm_running=False,
            locked_for=None,
            timeout=TIMEOUT,
            rollback=policy,
            rollbacks=rollbacks,
        )
        assert decision.action is not Action.INSTALL
        if decision.action is Action.UPGRADE:
            assert kind is ReleaseState.ROLLED_BACK
            assert decision.retry
            assert policy.may_retry(rollbacks)


def helmrelease(name: str, *depends: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "generation": 2},
        "spec": {"dependsOn": [{"name": dependency} for dependency in depends]},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "observedGeneration": 2}
            ]
        },
    }


def lookup(*bodies: dict[str, Any]) -> Callable[[ObjectKey], Mapping[str, Any] | None]:
    found = {ObjectKey(OWNER.group, "default", b["metadata"]["name"]): b for b in bodies}
    return found.get


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        ((helmrelease("a"), helmrelease("b")), None),
        ((helmrelease("a"),), Unready(("default/b: not found",))),
        ((helmrelease("a"), helmrelease("b", ready=False)), Unready(("default/b: not Ready",))),
        # Ready for an older generation is not Ready
        (
            (helmrelease("a"), {**helmrelease("b"), "metadata": {"name": "b", "generation": 3}}),
            Unready(("default/b: not Ready",)),
        ),
        # rabbit -> b -> c -> rabbit: a cycle, named in full
        (
            (helmrelease("a"), helmrelease("b", "c"), helmrelease("c", "rabbit")),
            Cycle(
                tuple(ObjectKey(OWNER.group, "default", n) for n in ("rabbit", "b", "c", "rabbit"))
            ),
        ),
        # a cycle not through this one is theirs to report, not its own
        ((helmrelease("a", "b"), helmrelease("b", "a")), None),
    ],
)
def test_dependencies(bodies: tuple[dict[str, Any], ...], expected: Unready | Cycle | None) -> None:
    found = check(OWNER, (("default", "a"), ("default", "b")), lookup(*bodies))
    assert found == expected
