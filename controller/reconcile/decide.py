"""The one action a reconcile takes, picked from the release's state (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from controller.api import RollbackPolicy
from controller.reconcile.state import Assessment, ReleaseState

LOCK_RECHECK = 5.0
"""Seconds between looks at a locked release while a helm process still holds it."""
NO_ROLLBACK = RollbackPolicy()
STOPPED = (
    "not tried again until the spec or its values change, or a reconcile is requested "
    "(annotation reconcile.fluxcd.io/requestedAt)"
)


class Action(enum.Enum):
    INSTALL = "install"
    UPGRADE = "upgrade"
    UNINSTALL = "uninstall"
    UNLOCK = "unlock"  # mark a stale pending-* release failed so it can be upgraded
    WAIT = "wait"  # a helm operation may still hold the release: look again later
    REFUSE = "refuse"  # the release is not ours: touch nothing, tell the user
    ADOPT = "adopt"  # helm-operator's release for this HelmRelease: label it ours, no helm
    ROLLBACK = "rollback"  # back to the deployed revision before this spec's failed upgrade
    TEST = "test"  # helm test
    CHECK_DRIFT = "check-drift"  # in sync: compare (and correct) the live objects
    PURGE = "purge"  # uninstall a failed install, so that a later install can reuse the name
    STOP = "stop"  # this spec failed: touch nothing until it changes or a retry is requested
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    after: float = 0.0
    """For WAIT: seconds until the release is looked at again."""
    retry: bool = False
    """For UPGRADE: the same spec again after a rollback (its rollbacks keep counting)."""


def decide(
    assessment: Assessment,
    *,
    deleting: bool,
    helm_running: bool,
    locked_for: float | None,
    timeout: float,
    rollback: RollbackPolicy = NO_ROLLBACK,
    rollbacks: int = 0,
    drift: bool = False,
) -> Decision:
    """What to do about a release in ``assessment.state``.

    ``locked_for`` is how long a LOCKED release has been pending (None: unknown, treated
    as stale so a release never stays locked forever); ``timeout`` is how long a helm
    operation on it may legitimately take; ``rollback`` is the spec's rollback policy and
    ``rollbacks`` how many rollbacks the failed spec has had; ``drift`` whether a release
    in sync has its live objects checked.
    """
    reason = assessment.reason
    within_timeout = locked_for is not None and locked_for < timeout
    match (deleting, assessment.state):
        case (_, ReleaseState.LOCKED) if helm_running or within_timeout:
            remaining = timeout - (locked_for or 0.0) if within_timeout else 0.0
            return Decision(
                Action.WAIT, f"{reason}; waiting for it to finish", max(remaining, LOCK_RECHECK)
            )
        case (True, ReleaseState.ABSENT):
            return Decision(Action.NONE, f"{reason}; nothing to uninstall")
        case (True, ReleaseState.FOREIGN):
            return Decision(Action.NONE, f"{reason}; left in place")
        # ADOPTABLE while deleting is uninstalled too, as helm-operator would have done
        case (True, _) | (False, ReleaseState.MOVED):
            return Decision(Action.UNINSTALL, reason)
        case (False, ReleaseState.LOCKED):
            return Decision(Action.UNLOCK, f"{reason} for longer than its timeout")
        case (False, ReleaseState.ABSENT):
            return Decision(Action.INSTALL, reason)
        case (False, ReleaseState.FOREIGN):
            return Decision(Action.REFUSE, reason)
        case (False, ReleaseState.ADOPTABLE):
            return Decision(Action.ADOPT, reason)
        case (False, ReleaseState.FAILED | ReleaseState.OUT_OF_SYNC):
            return Decision(Action.UPGRADE, reason)
        case (False, ReleaseState.IN_SYNC) if drift:
            return Decision(Action.CHECK_DRIFT, f"{reason}; checking its objects for drift")
        case (False, ReleaseState.IN_SYNC):
            return Decision(Action.NONE, reason)
        case (False, ReleaseState.UNTESTED):
            return Decision(Action.TEST, reason)
        case (False, ReleaseState.INSTALL_FAILED):
            return Decision(Action.PURGE, f"{reason}; uninstalling it")
        case (False, ReleaseState.UPGRADE_FAILED) if rollback.enable:
            return Decision(Action.ROLLBACK, f"{reason}; rolling back")
        case (False, ReleaseState.ROLLED_BACK) if rollback.may_retry(rollbacks):
            return Decision(Action.UPGRADE, f"{reason}; upgrading again", retry=True)
        case (False, ReleaseState.UPGRADE_FAILED | ReleaseState.ROLLED_BACK | ReleaseState.GAVE_UP):
            return Decision(Action.STOP, f"{reason}; {STOPPED}")
    raise AssertionError(f"unhandled state {assessment.state}")  # pragma: no cover
