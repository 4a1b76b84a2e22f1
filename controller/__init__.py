"""helmrelease-operator: releases Helm charts declared as HelmRelease resources."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("helmrelease-operator")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
