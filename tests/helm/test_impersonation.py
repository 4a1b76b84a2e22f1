"""helm acting as a ServiceAccount: every release command (upgrade, uninstall, rollback,
test) given ``as_user`` passes ``--kube-as-user USER`` to helm once, and nothing without
it; a ServiceAccount is the user ``system:serviceaccount:NAMESPACE:NAME``. The setting
``--default-service-account`` (helm-controller's) names one, or none when unset.

helm is a small shell script here that records its arguments and succeeds: what is
observed is helm's argv, not what an API server makes of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from controller.__main__ import UsageError, build_settings, make_parser
from controller.api import ReleaseOptions, RollbackPolicy
from controller.helm import HelmResult, HelmRunner, service_account_user
from controller.keys import ReleaseKey
from controller.settings import HelmSettings

RELEASE = ReleaseKey("team", "web")
DEPLOYER = "system:serviceaccount:team:deployer"

RECORDING_HELM = """#!/bin/sh
if [ "$1" = version ]; then echo v4.1.4; exit 0; fi
printf '%s\\n' "$@" > {args}
"""
"""A helm that answers ``version`` like helm 4 and records any other command's arguments."""

Command = Callable[[HelmRunner, str | None], Awaitable[HelmResult]]


async def upgrade(runner: HelmRunner, as_user: str | None) -> HelmResult:
    return await runner.upgrade(
        release=RELEASE,
        chart_path=Path("chart.tgz"),
        values={},
        options=ReleaseOptions(),
        install=True,
        labels={},
        as_user=as_user,
    )


async def uninstall(runner: HelmRunner, as_user: str | None) -> HelmResult:
    return await runner.uninstall(release=RELEASE, timeout=30, as_user=as_user)


async def rollback(runner: HelmRunner, as_user: str | None) -> HelmResult:
    policy = RollbackPolicy()
    return await runner.rollback(
        release=RELEASE, revision=1, policy=policy, max_history=5, as_user=as_user
    )


async def chart_tests(runner: HelmRunner, as_user: str | None) -> HelmResult:
    return await runner.test(release=RELEASE, timeout=30, as_user=as_user)


@pytest.fixture
def args_file(tmp_path: Path) -> Path:
    return tmp_path / "args"


@pytest.fixture
async def runner(tmp_path: Path, args_file: Path) -> AsyncIterator[HelmRunner]:
    script = tmp_path / "helm"
    script.write_text(RECORDING_HELM.format(args=args_file))
    script.chmod(0o755)
    runner = HelmRunner(HelmSettings(helm_bin=str(script), work_dir=tmp_path / "work"), {})
    yield runner
    await runner.close()


def recorded(args_file: Path) -> list[str]:
    return args_file.read_text().splitlines()


@pytest.mark.parametrize("command", [upgrade, uninstall, rollback, chart_tests])
async def test_as_user_reaches_helm_once(
    runner: HelmRunner, args_file: Path, command: Command
) -> None:
    assert (await command(runner, DEPLOYER)).ok
    args = recorded(args_file)
    assert args.count("--kube-as-user") == 1
    assert args[args.index("--kube-as-user") + 1] == DEPLOYER

    assert (await command(runner, None)).ok
    assert "--kube-as-user" not in recorded(args_file)


def test_a_service_account_is_impersonated_as_its_user() -> None:
    assert service_account_user("team", "deployer") == DEPLOYER


def test_the_default_service_account_is_a_setting() -> None:
    parse = make_parser().parse_args
    assert build_settings(parse(["run"]), {}).helm.default_service_account is None
    environ = {"HELMRELEASE_DEFAULT_SERVICE_ACCOUNT": "deployer"}
    assert build_settings(parse(["run"]), environ).helm.default_service_account == "deployer"
    flagged = parse(["run", "--default-service-account", "releaser"])
    assert build_settings(flagged, environ).helm.default_service_account == "releaser"
    unset = parse(["run", "--default-service-account="])
    assert build_settings(unset, environ).helm.default_service_account is None
    with pytest.raises(UsageError, match="--default-service-account 'Not_A_Name'"):
        build_settings(parse(["run", "--default-service-account", "Not_A_Name"]), {})
