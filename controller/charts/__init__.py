"""Chart acquisition from Helm repositories: index (ETag-revalidated), version resolution
with Helm's semver rules, tarball download with digest check, content-addressed cache."""

from controller.charts.auth import RepoAuth
from controller.charts.errors import ChartError, Reason
from controller.charts.fetcher import ChartFetcher, FetchedChart

__all__ = ["ChartError", "ChartFetcher", "FetchedChart", "Reason", "RepoAuth"]
