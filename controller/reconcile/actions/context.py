"""What the actions that run helm or rewrite a release record work with."""

from __future__ import annotations

from dataclasses import dataclass

from controller.helm import HelmResult, HelmRunner
from controller.keys import ReleaseKey
from controller.kube.client import KubeClient
from controller.releases import ObservedRelease, ReleaseIndex


@dataclass(frozen=True)
class ActionContext:
    client: KubeClient
    runner: HelmRunner
    release: ReleaseKey
    """The release acted on (for an uninstall of a moved release: the old one)."""
    timeout: float
    """helm's --timeout, in seconds."""
    observed: ObservedRelease | None
    """The release record as just read (unlock acts on exactly this revision)."""
    index: ReleaseIndex
    """The watched release records, from which the outcome of helm may be taken."""
    log_diffs: bool = False
    """Log which value paths an upgrade changes (``--log-release-diffs``; never values)."""


def helm_failure(result: HelmResult, timeout: float) -> str:
    """Why a helm process failed, in one line (its error is already free of values)."""
    if result.timed_out:
        return f"helm did not finish within its {timeout:g}s timeout and was stopped"
    return result.error or f"helm exited with code {result.exit_code}"
