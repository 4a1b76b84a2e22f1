"""How helm processes are run: version detection (real helm 3 and 4, cached), the
minimal private environment, and stopping helm. A hung helm is stopped at our own
deadline with SIGTERM then SIGKILL, and cancelling the awaiting task stops it the
same way before CancelledError propagates. helm reads the values on its standard input:
they are never written to disk.

The hung helm is a small shell script (the only fake helm in the suite): it answers
``version`` like helm 4, records its standard input, its pid and the SIGTERM it receives,
and ignores it.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from controller.api import ReleaseOptions
from controller.helm import HelmResult, HelmRunner, HelmUnavailable
from controller.keys import ReleaseKey
from controller.settings import HelmSettings
from testkit import pinned, wait_for

RELEASE = ReleaseKey("team-a", "hung")
SECRET = "hung-helm-secret-marker"
TRAP_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL when the test needs both: the script's trap must
run in between, even on a machine busy with other work."""

HUNG_HELM = """#!/bin/sh
if [ "$1" = version ]; then echo v4.1.4; exit 0; fi
trap 'echo TERM >> {state}/signals; [ -e {state}/exit-on-term ] && exit 143' TERM
env > {state}/env
cat > {state}/stdin
echo $$ > {state}/pid
while :; do sleep 0.05; done
"""
"""A helm that hangs: SIGTERM is recorded, and only ends it when ``exit-on-term`` exists."""


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir()
    return directory


@pytest.fixture
def hung_helm(tmp_path: Path, state: Path) -> Path:
    script = tmp_path / "helm"
    script.write_text(HUNG_HELM.format(state=state))
    script.chmod(0o755)
    return script


def helm_homes(work_dir: Path) -> list[Path]:
    return list(work_dir.glob("helm-*"))


def files_holding(directory: Path, secret: str) -> list[Path]:
    """The files under ``directory`` that hold ``secret``."""
    files = (path for path in directory.rglob("*") if path.is_file())
    return [path for path in files if secret.encode() in path.read_bytes()]


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def upgrade(runner: HelmRunner, timeout: float) -> asyncio.Task[HelmResult]:
    return asyncio.create_task(
        runner.upgrade(
            release=RELEASE,
            chart_path=Path("chart.tgz"),
            values={"token": SECRET},
            options=ReleaseOptions(timeout=timeout, wait=True, max_history=5, reset_values=True),
            install=True,
            labels={},
        )
    )


@pytest.mark.parametrize(
    ("binary", "expected"), [("helm", (4, "v4.1.4")), ("helm3", (3, "v3.17.3"))]
)
async def test_version_is_detected_once(
    binary: str, expected: tuple[int, str], tmp_path: Path
) -> None:
    runner = HelmRunner(HelmSettings(helm_bin=str(pinned(binary)), work_dir=tmp_path / "work"), {})
    assert await runner.version() == expected
    started = REGISTRY.get_sample_value(
        "helmrelease_helm_processes_started_total", {"command": "version"}
    )
    assert await runner.version() == expected
    assert started == REGISTRY.get_sample_value(
        "helmrelease_helm_processes_started_total", {"command": "version"}
    )
    await runner.close()


async def test_missing_helm_is_reported(tmp_path: Path) -> None:
    runner = HelmRunner(
        HelmSettings(helm_bin=str(tmp_path / "nothing"), work_dir=tmp_path / "work"), {}
    )
    with pytest.raises(HelmUnavailable, match="cannot start"):
        await runner.version()
    await runner.close()


async def test_hung_helm_gets_sigterm_then_sigkill_at_our_deadline(
    tmp_path: Path, hung_helm: Path, state: Path
) -> None:
    settings = HelmSettings(
        helm_bin=str(hung_helm),
        kill_grace=TRAP_GRACE,
        deadline_margin=1.0,
        work_dir=tmp_path / "work",
    )
    runner = HelmRunner(settings, {"KUBECONFIG": "/nonexistent/kubeconfig"})
    task = upgrade(runner, timeout=1.0)
    # The pid is written once the standard input is read to its end.
    await wait_for(lambda: (state / "pid").exists(), what="the hung helm to read its values")
    assert json.loads((state / "stdin").read_text()) == {"token": SECRET}
    assert files_holding(tmp_path / "work", SECRET) == []  # never on disk
    assert runner.is_running(RELEASE)

    result = await task

    assert result.timed_out
    assert not result.ok
    assert result.exit_code is None
    assert result.error == "helm upgrade did not finish in time and was stopped"
    assert (state / "signals").read_text() == "TERM\n"  # survived SIGTERM: SIGKILL ended it
    assert not process_exists(int((state / "pid").read_text()))
    assert not runner.is_running(RELEASE)
    await runner.close()
    assert helm_homes(tmp_path / "work") == []


async def test_cancellation_stops_helm(tmp_path: Path, hung_helm: Path, state: Path) -> None:
    (state / "exit-on-term").touch()  # it stops on SIGTERM: no SIGKILL is needed, nor timed
    settings = HelmSettings(
        helm_bin=str(hung_helm), kill_grace=600, deadline_margin=600, work_dir=tmp_path / "work"
    )
    runner = HelmRunner(settings, {})
    task = upgrade(runner, timeout=600)
    await wait_for(lambda: (state / "pid").exists(), what="the hung helm to start")

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (state / "signals").read_text() == "TERM\n"
    assert not process_exists(int((state / "pid").read_text()))
    assert not runner.is_running(RELEASE)
    await runner.close()


async def test_helm_gets_a_minimal_private_environment(
    tmp_path: Path, hung_helm: Path, state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_SECRET", SECRET)
    settings = HelmSettings(
        helm_bin=str(hung_helm), kill_grace=0.3, deadline_margin=600, work_dir=tmp_path / "work"
    )
    runner = HelmRunner(settings, {"KUBECONFIG": "/config/kubeconfig"})
    task = upgrade(runner, timeout=600)
    # The pid is written after the environment.
    await wait_for(lambda: (state / "pid").exists(), what="the hung helm to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    written = (state / "env").read_text()
    env = dict(line.split("=", 1) for line in written.splitlines() if "=" in line)
    (home,) = helm_homes(tmp_path / "work")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert env["HOME"] == str(home)
    assert env["KUBECONFIG"] == "/config/kubeconfig"
    for name in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "KUBECACHEDIR"):
        assert env[name].startswith(str(home) + "/")
    assert "OPERATOR_SECRET" not in env
    assert SECRET not in written
    await runner.close()
