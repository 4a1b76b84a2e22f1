"""Fixtures of the end-to-end suite: one environment per session, one namespace per test.

``env`` is the session's ``e2etesting.Env`` with the operator ready; ``namespace``
creates a fresh namespace and, afterwards, deletes its HelmReleases (waiting for the
operator to uninstall them, so nothing of one test keeps the operator busy in the
next) and the namespace. The demo test needs the in-memory API server, so it is not
collected against a real cluster.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from e2etesting import Config, Env, environment

collect_ignore = (
    [
        "test_demo.py",
        "test_leader_failover.py",
        "test_reference_examples_converge.py",
        "test_remediation.py",
        "test_git_charts.py",
        "test_oci_charts.py",
        "test_depends_on.py",
        "test_no_second_helm.py",
        "test_hostile_tenants.py",
    ]
    if os.environ.get("E2E_KUBECONFIG")
    else []
)


@pytest.fixture(scope="session")
def e2e_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with environment(Config.from_environ(os.environ), tmp_path_factory.mktemp("e2e")) as env:
        yield env


@pytest.fixture
async def env(e2e_environment: Env) -> Env:
    await e2e_environment.operator.ready()
    return e2e_environment


@pytest.fixture
async def namespace(env: Env, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))
    name = f"e2e-{slug[:20].strip('-')}-{secrets.token_hex(3)}"
    await env.kubectl("create", "namespace", name)
    yield name
    await env.kubectl("delete", "helmreleases-all", "--all", "-n", name, "--timeout=60s")
    await env.kubectl("delete", "namespace", name, "--wait=false")
