"""What tests, benchmarks and the demo stand on: never shipped, never imported by the operator.

``wait_for`` waits on a condition with a deadline; ``ChildProcess`` runs a program in the
background and ``OperatorProcess`` the operator; ``register_crds`` installs the project's
CRDs on a server; ``ChartRepository`` serves a folder of charts as a Helm repository on
loopback, ``GitServer`` bare git repositories over smart HTTP (``init_bare``,
``commit_files`` and ``tag`` build them), ``Registry`` an OCI registry (``push_chart``
pushes a packaged chart to it with helm); ``tools`` finds the pinned helm and kubectl and
runs them; ``Scrape`` reads a /metrics page; ``FakeClock`` is time that moves only when
told to.
"""

from testkit.charts import ChartRepository, Seen
from testkit.clock import FakeClock
from testkit.crds import register_crds
from testkit.gitserver import GitSeen, GitServer, chart_files, commit_files, init_bare, tag
from testkit.metrics import Scrape, exposed
from testkit.operator import OperatorProcess
from testkit.paths import CHARTS_DIR, CRDS_DIR, EXAMPLES_DIR, ROOT
from testkit.process import ChildProcess
from testkit.registry import Registry, push_chart, registry_available
from testkit.tools import Completed, helm_bin, kubectl, kubectl_bin, pinned, run, tool_env
from testkit.waiting import Unmet, wait_for

__all__ = [
    "CHARTS_DIR",
    "CRDS_DIR",
    "EXAMPLES_DIR",
    "ROOT",
    "ChartRepository",
    "ChildProcess",
    "Completed",
    "FakeClock",
    "GitSeen",
    "GitServer",
    "OperatorProcess",
    "Registry",
    "Scrape",
    "Seen",
    "Unmet",
    "chart_files",
    "commit_files",
    "exposed",
    "helm_bin",
    "init_bare",
    "kubectl",
    "kubectl_bin",
    "pinned",
    "push_chart",
    "register_crds",
    "registry_available",
    "run",
    "tag",
    "tool_env",
    "wait_for",
]
