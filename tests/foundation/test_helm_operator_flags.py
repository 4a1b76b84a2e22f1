"""helm-operator's command line: its Deployment's args start this operator unchanged.

Covers: helm-operator's flag names set our settings, with its value formats (Go
durations, pflag booleans, ``fmt``, ``:PORT``), without the ``run`` command; the flags
that no longer apply are accepted and noted once each, naming the flag and why;
``--enabled-helm-versions`` (and ``HELM_VERSION``) without v3 stops the start with one
line and exit 2; ``--help`` groups them; ``:PORT`` listens on every interface.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys

import aiohttp
import pytest

from controller import settings
from controller.__main__ import (
    HELM_OPERATOR_IGNORED,
    UsageError,
    configure,
    parse_args,
    parse_go_duration,
    with_command,
)
from controller.http import make_app, serve

Notes = list[tuple[int, str]]

# helm-operator's chart defaults, as a Terraform module passes them.
CHART_ARGS = [
    "--enabled-helm-versions=v3",
    "--log-format=fmt",
    "--git-timeout=20s",
    "--git-poll-interval=5m",
    "--charts-sync-interval=3m",
    "--status-update-interval=30s",
    "--update-chart-deps=true",
    "--log-release-diffs=false",
    "--workers=4",
]


def configured(
    argv: list[str], environ: dict[str, str] | None = None
) -> tuple[settings.Settings, Notes]:
    return configure(parse_args(argv or ["run"]), environ or {})


def built(argv: list[str], environ: dict[str, str] | None = None) -> settings.Settings:
    return configured(argv, environ)[0]


def lines(argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    return [line for _, line in configured(argv, environ)[1]]


def test_the_charts_args_start_the_operator_without_the_run_command() -> None:
    got, notes = configured(CHART_ARGS)
    assert got.queue.resync_interval == 180.0
    assert got.queue.workers == 4
    assert got.log.format == "text"
    assert got.log.release_diffs is False
    assert got.git == settings.GitSettings(
        timeout=20.0, poll_interval=300.0, update_chart_deps=True, default_ref="master"
    )
    assert notes == [
        (
            logging.INFO,
            f"--status-update-interval is not needed: {_why('--status-update-interval')}",
        )
    ]


def test_the_upstream_deployment_args_start_the_operator() -> None:
    got, notes = configured(
        ["--enabled-helm-versions=v3", "--allow-namespace=team-a", "--listen=:3030"]
    )
    assert (got.watch.namespace, got.http.listen) == ("team-a", ":3030")
    assert notes == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3m", 180.0),
        ("90s", 90.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2m30.5s", 150.5),
        (".5s", 0.5),
        ("300us", 0.0003),
        ("2\u00b5s", 0.000002),
        ("10ns", 1e-8),
        ("0", 0.0),
        ("+5s", 5.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "3", "1d", "m", "3m-", "-1s", "1h 30m", "5S", "1..5s"])
def test_not_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("argv", "section", "field", "value"),
    [
        (["--charts-sync-interval", "3m"], "queue", "resync_interval", 180.0),
        (["--charts-sync-interval=1h"], "queue", "resync_interval", 3600.0),
        (["--allow-namespace", "team-a"], "watch", "namespace", "team-a"),
        (["--allow-namespace="], "watch", "namespace", None),
        (["--workers=2"], "queue", "workers", 2),
        (["--log-format", "fmt"], "log", "format", "text"),
        (["--log-format=json"], "log", "format", "json"),
        (["--listen", ":3030"], "http", "listen", ":3030"),
        (["-l", ":3030"], "http", "listen", ":3030"),
        (["-l=:3031"], "http", "listen", ":3031"),
        (["--kubeconfig=/etc/kube/config"], "kube", "kubeconfig", "/etc/kube/config"),
        (["--kubeconfig="], "kube", "kubeconfig", None),
        (["--log-release-diffs"], "log", "release_diffs", True),
        (["--log-release-diffs=true"], "log", "release_diffs", True),
        (["--log-release-diffs=false"], "log", "release_diffs", False),
        (["--update-chart-deps=false"], "git", "update_chart_deps", False),
        (["--update-chart-deps"], "git", "update_chart_deps", True),
        (["--git-timeout", "1m"], "git", "timeout", 60.0),
        (["--git-poll-interval=30s"], "git", "poll_interval", 30.0),
        (["--git-default-ref", "main"], "git", "default_ref", "main"),
    ],
)
def test_helm_operator_flags_set_our_settings(
    argv: list[str], section: str, field: str, value: object
) -> None:
    assert getattr(getattr(built(argv), section), field) == value


def test_the_git_settings_default_to_helm_operators() -> None:
    assert built([]).git == settings.GitSettings(20.0, 300.0, True, "master")


def test_an_alias_and_our_flag_set_one_setting_the_last_one_wins() -> None:
    assert built(["--namespace", "a", "--allow-namespace", "b"]).watch.namespace == "b"
    assert built(["--charts-sync-interval=3m", "--resync-interval=60"]).queue.resync_interval == 60


def test_an_alias_wins_over_the_variable_of_its_setting() -> None:
    environ = {"HELMRELEASE_RESYNC_INTERVAL": "60"}
    assert built(["--charts-sync-interval=3m"], environ).queue.resync_interval == 180.0


@pytest.mark.parametrize("flag", sorted(HELM_OPERATOR_IGNORED))
def test_each_flag_that_no_longer_applies_is_noted_once_with_why(flag: str) -> None:
    ignored = HELM_OPERATOR_IGNORED[flag]
    value = {"bool": [], "list": ["v3:/tmp/index.yaml"]}.get(ignored.kind, ["10s"])
    got, notes = configured([flag, *value, flag, *value, "--workers", "3"])
    assert got.queue.workers == 3  # the flags after it still count
    assert notes == [(ignored.level, f"{flag} is {ignored.verdict}: {ignored.why}")]


def test_flags_that_no_longer_apply_take_helm_operators_values() -> None:
    argv = [
        "--tiller-namespace=kube-system",
        "--tiller-tls-enable",
        "--tiller-tls-verify=false",
        "--tiller-tls-key-path=/etc/fluxd/helm/tls.key",
        "--convert-tiller-out-cluster=true",
        "--convert-release-storage",
        "configmaps",
        "--helm-repository-import=v2:/a/index.yaml,v3:/b/index.yaml",
        "--master=https://10.0.0.1:6443",
    ]
    noted = lines(argv)
    assert len(noted) == 8
    assert noted[0].startswith("--master is ignored: the API server address comes from")
    assert any(line.startswith("--tiller-tls-enable is ignored: Tiller") for line in noted)


def test_a_malformed_status_update_interval_is_refused_as_helm_operator_did() -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--status-update-interval=often"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("argv", "environ", "noted"),
    [
        (["--enabled-helm-versions=v3"], {}, []),
        (["--enabled-helm-versions=V3"], {}, []),
        (
            ["--enabled-helm-versions=v2,v3"],
            {},
            ["--enabled-helm-versions=v2,v3: v2 is ignored: Tiller (Helm 2) is not supported"],
        ),
        (
            ["--enabled-helm-versions", "v2", "--enabled-helm-versions", "v3"],
            {},
            ["--enabled-helm-versions=v2,v3: v2 is ignored"],
        ),
        (
            ["--enabled-helm-versions=v3,v4"],
            {},
            ["--enabled-helm-versions=v3,v4: v4 ignored: not a Helm version"],
        ),
        ([], {"HELM_VERSION": "v3"}, []),
        ([], {"HELM_VERSION": "v2,v3"}, ["HELM_VERSION=v2,v3: v2 is ignored"]),
        (["--enabled-helm-versions=v3"], {"HELM_VERSION": "v2"}, []),  # the flag wins
        ([], {"HELM_VERSION": "3.14.0"}, ["HELM_VERSION=3.14.0 is ignored: not v2 or v3"]),
        ([], {"HELM_VERSION": ""}, []),
    ],
)
def test_enabled_helm_versions(argv: list[str], environ: dict[str, str], noted: list[str]) -> None:
    got = lines(argv, environ)
    assert len(got) == len(noted)
    for line, start in zip(got, noted, strict=True):
        assert line.startswith(start)


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--enabled-helm-versions=v2"], {}, "--enabled-helm-versions=v2"),
        (["--enabled-helm-versions="], {}, "--enabled-helm-versions="),
        ([], {"HELM_VERSION": "v2"}, "HELM_VERSION=v2"),
    ],
)
def test_enabled_helm_versions_without_v3_cannot_start(
    argv: list[str], environ: dict[str, str], named: str
) -> None:
    with pytest.raises(UsageError, match=f"^{named} does not include v3: "):
        configured(argv, environ)


def test_enabled_helm_versions_without_v3_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "--enabled-helm-versions=v2", "--log-format=fmt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "ERROR" in line
    assert "cannot start: --enabled-helm-versions=v2 does not include v3" in line


def test_run_is_implied_when_the_arguments_start_with_a_flag() -> None:
    assert with_command(["--workers=2"]) == ["run", "--workers=2"]
    assert with_command(["-l", ":3030"]) == ["run", "-l", ":3030"]
    assert with_command(["run", "--workers=2"]) == ["run", "--workers=2"]
    assert with_command(["--version"]) == ["--version"]
    assert with_command(["--help"]) == ["--help"]
    assert with_command([]) == []


def test_help_groups_helm_operators_flags() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "controller", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    group = out[out.index("helm-operator compatibility:") :]
    for flag in ("--charts-sync-interval", "--allow-namespace", "--enabled-helm-versions"):
        assert flag in group
    for flag in HELM_OPERATOR_IGNORED:
        assert flag in group
    assert "same as --resync-interval" in group


async def test_a_port_alone_listens_on_every_interface_as_go_does() -> None:
    async with serve(make_app(lambda: (True, "ok")), ":0") as bound:
        host, _, port = bound.rpartition(":")
        assert host == ""
        hosts = ["127.0.0.1", *(["[::1]"] if socket.has_dualstack_ipv6() else [])]
        async with aiohttp.ClientSession() as session:
            for address in hosts:
                async with session.get(f"http://{address}:{port}/healthz") as response:
                    assert response.status == 200, address


def _why(flag: str) -> str:
    return HELM_OPERATOR_IGNORED[flag].why
