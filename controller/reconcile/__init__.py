"""Reconciling HelmReleases: observe the release, decide (pure), run one action, report."""

from controller.reconcile.reconciler import Reconciler

__all__ = ["Reconciler"]
