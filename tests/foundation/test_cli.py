"""The command line: flags, environment variables and defaults become typed Settings.

Covers: every settings field has a flag and an environment variable; flags win over
variables; sizes, durations and booleans parse; bad input is a clear usage error (one
line, exit 2); leader election defaults on only in-cluster; docs/flags.md lists every
flag; the package and its modules import. helm-operator's flags are in
test_helm_operator_flags.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import controller
from controller import settings
from controller.__main__ import FLAGS, UsageError, build_settings, env_name, make_parser
from testkit import ROOT


def parse(argv: list[str], environ: dict[str, str] | None = None) -> settings.Settings:
    args = make_parser().parse_args(["run", *argv])
    return build_settings(args, environ or {})


def run_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "controller", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_defaults_match_the_settings_dataclasses() -> None:
    assert parse([]) == settings.Settings()


def test_every_settings_field_has_a_flag() -> None:
    hints = typing.get_type_hints(settings.Settings)
    fields = {
        (section.name, field.name)
        for section in dataclasses.fields(settings.Settings)
        for field in dataclasses.fields(hints[section.name])
    }
    assert fields == set(FLAGS)
    assert len(set(FLAGS.values())) == len(FLAGS)


def test_stable_interface_flags() -> None:
    built = parse(["--kubeconfig", "/k", "--listen", "127.0.0.1:9090", "--workers", "8"])
    assert built.kube.kubeconfig == "/k"
    assert built.http.listen == "127.0.0.1:9090"
    assert built.queue.workers == 8


def test_environment_sets_and_flags_win() -> None:
    environ = {env_name("--workers"): "3", env_name("--max-chart-size"): "10Mi"}
    assert parse([], environ).queue.workers == 3
    assert parse([], environ).charts.max_chart_size == 10 * 1024 * 1024
    assert parse(["--workers", "5"], environ).queue.workers == 5


def test_typed_values() -> None:
    built = parse(
        [
            "--chart-cache-dir",
            "/var/cache/x",
            "--shutdown-grace",
            "12.5",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--no-leader-election",
        ]
    )
    assert built.charts.cache_dir == Path("/var/cache/x")
    assert built.queue.shutdown_grace == 12.5
    assert (built.log.format, built.log.level) == ("json", "DEBUG")
    assert built.leader.enabled is False


@pytest.mark.parametrize(
    ("argv", "seconds"),
    [
        (["--resync-interval", "90"], 90.0),
        (["--resync-interval", "2.5"], 2.5),
        (["--resync-interval", "3m"], 180.0),
        (["--resync-interval=1h30m"], 5400.0),
        (["--resync-interval", "500ms"], 0.5),
        (["--resync-interval", "0"], 0.0),
    ],
)
def test_durations_are_seconds_or_go_durations(argv: list[str], seconds: float) -> None:
    assert parse(argv).queue.resync_interval == pytest.approx(seconds)


def test_every_float_setting_but_the_jitter_fraction_is_a_duration() -> None:
    hints = typing.get_type_hints(settings.Settings)
    plain_floats = [
        (section.name, name)
        for section in dataclasses.fields(settings.Settings)
        for name, hint in typing.get_type_hints(hints[section.name], include_extras=True).items()
        if hint is float
    ]
    assert plain_floats == [("queue", "resync_jitter")]
    environ = {env_name("--request-timeout"): "2m", env_name("--git-poll-interval"): "1h"}
    built = parse([], environ)
    assert (built.kube.request_timeout, built.git.poll_interval) == (120.0, 3600.0)
    with pytest.raises(SystemExit):
        parse(["--resync-jitter", "1m"])


@pytest.mark.parametrize(
    ("argv", "enabled"),
    [
        (["--leader-election"], True),
        (["--leader-election=true"], True),
        (["--leader-election=false"], False),
        (["--leader-election", "false"], False),
        (["--no-leader-election"], False),
        (["--leader-election", "--no-leader-election"], False),
    ],
)
def test_booleans_take_pflag_forms(argv: list[str], enabled: bool) -> None:
    assert parse(argv).leader.enabled is enabled


def test_an_empty_optional_name_means_unset() -> None:
    assert parse(["--namespace="]).watch.namespace is None
    assert parse([], {env_name("--namespace"): ""}).watch.namespace is None
    assert parse(["--namespace", "team-a"]).watch.namespace == "team-a"


@pytest.mark.parametrize(
    "argv",
    [
        ["--workers", "many"],
        ["--listen", "nohostport"],
        ["--listen", "0.0.0.0:65536"],
        ["--log-format", "xml"],
        ["--max-chart-size", "lots"],
        ["--resync-interval", "soon"],
        ["--resync-interval", "-1s"],
        ["--resync-interval", "nan"],
        ["--leader-election=maybe"],
        ["--no-leader-election=true"],
        ["--work", "1"],  # no abbreviations: pflag has none
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2


def test_settings_that_cannot_work_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--workers"):
        parse(["--workers", "0"])


def test_a_usage_error_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "run", "--workers", "many"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "helmrelease-operator run: error: argument --workers: invalid int value: 'many' "
        "(see helmrelease-operator run --help)"
    ]


@pytest.mark.parametrize("listen", [":9090", "[::1]:8080", "localhost:0"])
def test_listen_addresses_the_http_server_accepts_are_kept_as_given(listen: str) -> None:
    assert parse(["--listen", listen]).http.listen == listen


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(UsageError, match="HELMRELEASE_WORKERS"):
        parse([], {env_name("--workers"): "many"})


def test_helm_must_be_killed_before_another_replica_can_lead() -> None:
    with pytest.raises(UsageError, match="--helm-kill-grace"):
        parse(["--leader-election", "--helm-kill-grace", "8", "--lease-duration", "15"])
    assert parse(["--leader-election", "--helm-kill-grace", "4"]).leader.enabled


def test_leader_election_defaults_on_in_cluster_only() -> None:
    in_cluster = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert parse([], in_cluster).leader.enabled is True
    assert parse(["--kubeconfig", "/k"], in_cluster).leader.enabled is False
    assert parse([]).leader.enabled is False


def test_help_lists_flags_with_their_variables() -> None:
    out = run_help()
    for flag in ("--kubeconfig", "--listen", "--workers", "--chart-cache-dir"):
        assert flag in out
    assert "HELMRELEASE_CHART_CACHE_DIR" in out


def test_docs_list_every_flag_and_variable() -> None:
    docs = (ROOT / "docs" / "flags.md").read_text()
    flags = re.findall(r"^ {2}(-[\w-]+)", run_help(), re.MULTILINE)
    assert set(FLAGS.values()) < set(flags)
    flags.remove("-h")
    missing = [flag for flag in flags if f"`{flag}" not in docs]
    assert not missing, f"docs/flags.md does not list {missing}"
    variables = [env_name(flag) for flag in FLAGS.values()]
    assert not [name for name in variables if name not in docs]


def test_every_module_imports() -> None:
    names = [
        info.name
        for info in pkgutil.walk_packages(controller.__path__, prefix="controller.")
        if ".testing" not in info.name and not info.name.endswith("__main__")
    ]
    assert "controller.settings" in names
    for name in names:
        importlib.import_module(name)
