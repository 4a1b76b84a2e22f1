"""The command line: flags, environment variables and defaults become typed Settings.

Covers: every settings field has a flag and an environment variable; flags win over
variables; sizes and durations parse; bad input is a clear usage error; leader
election defaults on only in-cluster; the package and its modules import.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import controller
from controller import settings
from controller.__main__ import FLAGS, build_settings, env_name, make_parser


def parse(argv: list[str], environ: dict[str, str] | None = None) -> settings.Settings:
    args = make_parser().parse_args(["run", *argv])
    return build_settings(args, environ or {})


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
    "argv",
    [
        ["--workers", "many"],
        ["--listen", "nohostport"],
        ["--listen", "0.0.0.0:65536"],
        ["--log-format", "xml"],
        ["--max-chart-size", "lots"],
        ["--workers", "0"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code != 0


@pytest.mark.parametrize("listen", [":9090", "[::1]:8080", "localhost:0"])
def test_listen_addresses_the_http_server_accepts_are_kept_as_given(listen: str) -> None:
    assert parse(["--listen", listen]).http.listen == listen


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SystemExit, match="HELMRELEASE_WORKERS"):
        parse([], {env_name("--workers"): "many"})


def test_helm_must_be_killed_before_another_replica_can_lead() -> None:
    with pytest.raises(SystemExit, match="--helm-kill-grace"):
        parse(["--leader-election", "--helm-kill-grace", "8", "--lease-duration", "15"])
    assert parse(["--leader-election", "--helm-kill-grace", "4"]).leader.enabled


def test_leader_election_defaults_on_in_cluster_only() -> None:
    in_cluster = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert parse([], in_cluster).leader.enabled is True
    assert parse(["--kubeconfig", "/k"], in_cluster).leader.enabled is False
    assert parse([]).leader.enabled is False


def test_help_lists_flags_with_their_variables() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "controller", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for flag in ("--kubeconfig", "--listen", "--workers", "--chart-cache-dir"):
        assert flag in out
    assert "HELMRELEASE_CHART_CACHE_DIR" in out


def test_every_module_imports() -> None:
    names = [
        info.name
        for info in pkgutil.walk_packages(controller.__path__, prefix="controller.")
        if ".testing" not in info.name and not info.name.endswith("__main__")
    ]
    assert "controller.settings" in names
    for name in names:
        importlib.import_module(name)
