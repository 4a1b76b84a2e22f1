"""Reconciling HelmReleases: observe the release, decide (pure), run one action, report."""

from controller.reconcile.actions.drift_check import DriftTools
from controller.reconcile.reconciler import Reconciler

__all__ = ["DriftTools", "Reconciler"]
