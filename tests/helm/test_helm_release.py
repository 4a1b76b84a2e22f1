"""HelmRunner with real helm 4 and helm 3 against the in-memory API server: install,
upgrade with new values, force (its flag differs between versions), uninstall (also of
a missing release), rollback, ``helm test`` passing and failing; a chart that fails to
render with a secret in the values gives helm's error with the secret redacted
everywhere, also a multi-line secret and one straddling the error's length cap;
``--wait`` on a workload that never becomes ready fails at helm's own ``--timeout``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from controller.api import ReleaseOptions, RollbackPolicy
from controller.helm import ERROR_LIMIT, REDACTED, HelmResult, HelmRunner
from controller.keys import ReleaseKey

HelmCli = Callable[..., Awaitable[tuple[int, str, str]]]
PODINFO = Path(__file__).resolve().parents[2] / "tests/data/charts/podinfo-6.7.1.tgz"
RELEASE = ReleaseKey("default", "web")
SECRET = "s3cr3t-marker-7f2a9c"


async def upgrade(
    runner: HelmRunner,
    values: dict[str, Any],
    *,
    chart: Path = PODINFO,
    wait: bool = False,
    helm_timeout: float = 60,
    force: bool = False,
    labels: dict[str, str] | None = None,
) -> HelmResult:
    return await runner.upgrade(
        release=RELEASE,
        chart_path=chart,
        values=values,
        options=ReleaseOptions(
            timeout=helm_timeout, wait=wait, max_history=5, reset_values=True, force=force
        ),
        install=True,
        labels=labels or {},
    )


def values_directories(tmp_path: Path) -> list[Path]:
    return list(tmp_path.glob("work/helm-*/values-*"))


async def helm_json(helm_cli: HelmCli, *args: str) -> Any:
    code, stdout, stderr = await helm_cli(*args, "--output", "json")
    assert code == 0, stderr
    return json.loads(stdout)


async def revision_and_status(helm_cli: HelmCli) -> tuple[int, str]:
    status = await helm_json(helm_cli, "status", "web", "--namespace", "default")
    return status["version"], status["info"]["status"]


async def test_install_then_upgrade_with_new_values(
    runner: HelmRunner, helm_cli: HelmCli, tmp_path: Path
) -> None:
    installed = await upgrade(runner, {"ui": {"message": "first"}})
    assert installed == HelmResult(
        command="upgrade",
        ok=True,
        exit_code=0,
        timed_out=False,
        duration=installed.duration,
        error="",
    )
    assert await revision_and_status(helm_cli) == (1, "deployed")

    upgraded = await upgrade(runner, {"ui": {"message": "second"}, "replicaCount": 2})
    assert (upgraded.ok, upgraded.error) == (True, "")
    assert await revision_and_status(helm_cli) == (2, "deployed")
    values = await helm_json(helm_cli, "get", "values", "web", "--namespace", "default")
    assert values == {"ui": {"message": "second"}, "replicaCount": 2}
    assert not runner.is_running(RELEASE)
    assert values_directories(tmp_path) == []  # removed after each run


async def test_force_uses_the_flag_of_the_detected_version(
    runner: HelmRunner, helm_bin: Path, helm_cli: HelmCli
) -> None:
    major, version = await runner.version()
    assert version.startswith(f"v{major}.")
    assert major == (3 if helm_bin.name == "helm3" else 4)
    assert (await upgrade(runner, {})).ok
    forced = await upgrade(runner, {"replicaCount": 2}, force=True)
    assert (forced.ok, forced.error) == (True, "")
    assert await revision_and_status(helm_cli) == (2, "deployed")


async def test_uninstall_and_uninstall_of_a_missing_release(
    runner: HelmRunner, helm_cli: HelmCli
) -> None:
    assert (await upgrade(runner, {})).ok
    uninstalled = await runner.uninstall(release=RELEASE, timeout=30)
    assert (uninstalled.ok, uninstalled.command, uninstalled.error) == (True, "uninstall", "")
    code, _, stderr = await helm_cli("status", "web", "--namespace", "default")
    assert code != 0
    assert "not found" in stderr

    again = await runner.uninstall(release=RELEASE, timeout=30)
    assert (again.ok, again.error) == (True, "")


async def test_rollback_restores_the_values_of_a_revision(
    runner: HelmRunner, helm_cli: HelmCli
) -> None:
    assert (await upgrade(runner, {"ui": {"message": "first"}})).ok
    assert (await upgrade(runner, {"ui": {"message": "second"}})).ok

    rolled_back = await runner.rollback(
        release=RELEASE, revision=1, policy=RollbackPolicy(timeout=30), max_history=10
    )

    assert (rolled_back.ok, rolled_back.command, rolled_back.error) == (True, "rollback", "")
    status = await helm_json(helm_cli, "status", "web", "--namespace", "default")
    assert (status["version"], status["info"]["status"]) == (3, "deployed")
    values = await helm_json(helm_cli, "get", "values", "web", "--namespace", "default")
    assert values == {"ui": {"message": "first"}}


async def test_chart_tests_pass_then_fail_naming_the_test(runner: HelmRunner) -> None:
    assert (await upgrade(runner, {})).ok
    passed = await runner.test(release=RELEASE, timeout=30)
    assert (passed.ok, passed.command, passed.error) == (True, "test", "")

    assert (await upgrade(runner, {"faults": {"testFail": True}})).ok
    failed = await runner.test(release=RELEASE, timeout=30)
    assert (failed.ok, failed.command) == (False, "test")
    assert "web-podinfo-fault-test-" in failed.error


@pytest.fixture
def failing_chart(tmp_path: Path) -> Path:
    """A chart whose template fails, quoting a value, when ``token`` is set."""
    chart = tmp_path / "failing"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: failing\nversion: 0.1.0\n")
    (chart / "templates" / "configmap.yaml").write_text(
        '{{- if .Values.token }}{{ fail (printf "token %s is refused" .Values.token) }}'
        "{{- end }}\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
    )
    return chart


async def test_render_failure_reports_helm_error_without_values(
    runner: HelmRunner, failing_chart: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")

    result = await upgrade(
        runner, {"token": SECRET, "nested": [{"again": SECRET}]}, chart=failing_chart
    )

    assert not result.ok
    assert not result.timed_out
    assert result.exit_code == 1
    assert result.error.startswith("Error: ")
    assert f"token {REDACTED} is refused" in result.error
    assert SECRET not in repr(result)
    assert SECRET not in caplog.text
    assert str(tmp_path) not in result.error
    assert result.error in caplog.text  # the failure is logged, scrubbed


async def test_wait_on_a_workload_that_never_gets_ready_fails_at_helm_timeout(
    runner: HelmRunner,
) -> None:
    result = await upgrade(
        runner, {"image": {"repository": "example.com/fail/podinfo"}}, wait=True, helm_timeout=2
    )
    assert not result.ok
    assert not result.timed_out  # helm's --timeout, well before our own deadline
    assert result.exit_code == 1
    assert result.error.startswith("Error: ")


async def test_multi_line_secret_is_redacted_line_by_line(
    runner: HelmRunner, failing_chart: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """helm's error breaks the quoted value across lines; each of them is a secret too."""
    caplog.set_level("DEBUG")
    lines = ["-----BEGIN KEY-----", "bXVsdGktbGluZS1zZWNyZXQ=", "-----END KEY-----"]

    result = await upgrade(runner, {"token": "\n".join(lines)}, chart=failing_chart)

    assert not result.ok
    assert "is refused" in result.error
    assert not any(line in result.error or line in caplog.text for line in lines)


async def test_secret_straddling_the_error_cap_is_redacted(
    runner: HelmRunner, tmp_path: Path
) -> None:
    """The error is cut after redaction: no prefix of a secret is left at the cut."""
    chart = tmp_path / "long-error"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: long-error\nversion: 0.1.0\n")
    # The secret starts a few characters before ERROR_LIMIT, whatever helm puts before it.
    (chart / "templates" / "fail.yaml").write_text(
        '{{ fail (printf "at>%s%s" (repeat (int .Values.padding) "x") .Values.token) }}\n'
    )
    probe = await upgrade(runner, {"padding": 0, "token": "none"}, chart=chart)
    prefix = probe.error.index("at>") + len("at>")

    result = await upgrade(
        runner, {"padding": ERROR_LIMIT - prefix - 4, "token": SECRET}, chart=chart
    )

    assert not result.ok
    assert len(result.error) == ERROR_LIMIT
    assert SECRET[:4] not in result.error
    assert result.error.endswith("x" + REDACTED[:4])
