"""The chart a HelmRelease names, whatever its source: a Helm repository or an OCI
registry (credentials from its ``chartPullSecret``), or a git repository (credentials
from its ``secretRef``)."""

from __future__ import annotations

from controller.api import GitChartSpec, ReleaseSpec
from controller.charts.auth import read_pull_secret
from controller.charts.errors import ChartError
from controller.charts.fetched import FetchedChart
from controller.charts.fetcher import ChartFetcher
from controller.charts.gitauth import read_git_secret
from controller.charts.oci import oci_registry
from controller.kube.client import KubeClient


async def fetch_chart(
    charts: ChartFetcher, client: KubeClient, spec: ReleaseSpec
) -> FetchedChart | ChartError:
    """The chart ``spec`` asks for; raises ApiError when its Secret cannot be read."""
    chart = spec.chart
    if isinstance(chart, GitChartSpec):
        if chart.secret is None:
            return await charts.git.fetch(chart, None)
        namespace = chart.secret_namespace or spec.namespace
        git_auth = await read_git_secret(client, namespace, chart.secret)
        if isinstance(git_auth, ChartError):
            return git_auth
        return await charts.git.fetch(chart, git_auth)
    if chart.pull_secret is None:
        return await charts.fetch(chart.repository, chart.name, chart.version)
    registry = oci_registry(chart.repository)
    auth = await read_pull_secret(client, spec.namespace, chart.pull_secret, registry)
    if isinstance(auth, ChartError):
        return auth
    return await charts.fetch(chart.repository, chart.name, chart.version, auth)
