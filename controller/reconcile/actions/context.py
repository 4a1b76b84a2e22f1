"""What every action module (apply, uninstall, unlock) shares: its input and its result.

An action runs one helm (or release record) operation and reports how it went as a
value; it never raises for an expected failure (only ApiError, for an API fault).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.api import ReleaseSpec
from controller.charts import FetchedChart
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
    observed: ObservedRelease | None = None
    """The release record as just read (unlock acts on exactly this revision)."""
    spec: ReleaseSpec | None = None
    chart: FetchedChart | None = None
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels written on the release record (owner and applied digest)."""
    index: ReleaseIndex | None = None
    """The watched release records, when the outcome of helm may be taken from them."""


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    reason: str
    """CamelCase, used as condition and Event reason (``UpgradeSucceeded``)."""
    message: str
    """One line for users; never values."""
    phase: str
    revision: int | None = None
    """The release revision the action left behind, when known."""
    release_status: str | None = None
    """helm's status of that revision (``deployed``, ``failed``, ...)."""


def helm_failure(result: HelmResult, timeout: float) -> str:
    """Why a helm process failed, in one line (its error is already free of values)."""
    if result.timed_out:
        return f"helm did not finish within its {timeout:g}s timeout and was stopped"
    return result.error or f"helm exited with code {result.exit_code}"
