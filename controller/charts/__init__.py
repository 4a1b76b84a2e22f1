"""Chart acquisition from Helm repositories: index (ETag-revalidated), version resolution
with Helm's semver rules, tarball download with digest check, content-addressed cache;
and from git repositories (mirrors, refs resolved once per poll, charts packaged into the
same cache)."""

from controller.charts.auth import RepoAuth
from controller.charts.errors import ChartError, Reason
from controller.charts.fetched import FetchedChart
from controller.charts.fetcher import ChartFetcher
from controller.charts.gitauth import GitAuth, read_git_secret
from controller.charts.oci import oci_registry
from controller.charts.source import fetch_chart

__all__ = [
    "ChartError",
    "ChartFetcher",
    "FetchedChart",
    "GitAuth",
    "Reason",
    "RepoAuth",
    "fetch_chart",
    "oci_registry",
    "read_git_secret",
]
