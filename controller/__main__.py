"""Command line: ``helmrelease-operator run --kubeconfig PATH --listen HOST:PORT --workers N``.

Every setting has a flag and an environment variable (``--chart-cache-dir`` ↔
``HELMRELEASE_CHART_CACHE_DIR``); a flag wins over the variable, the variable over
the default. The field docstrings in ``controller.settings`` are the help texts.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from controller import __version__, settings

# (section, field) -> flag. Names follow helm-operator's where one existed.
FLAGS: Mapping[tuple[str, str], str] = {
    ("kube", "kubeconfig"): "--kubeconfig",
    ("kube", "context"): "--context",
    ("kube", "request_timeout"): "--request-timeout",
    ("watch", "namespace"): "--namespace",
    ("watch", "label_selector"): "--label-selector",
    ("watch", "watch_timeout"): "--watch-timeout",
    ("watch", "inactivity_timeout"): "--watch-inactivity-timeout",
    ("watch", "backoff_initial"): "--watch-backoff-initial",
    ("watch", "backoff_max"): "--watch-backoff-max",
    ("queue", "workers"): "--workers",
    ("queue", "retry_initial"): "--retry-initial",
    ("queue", "retry_max"): "--retry-max",
    ("queue", "resync_interval"): "--resync-interval",
    ("queue", "resync_jitter"): "--resync-jitter",
    ("queue", "shutdown_grace"): "--shutdown-grace",
    ("charts", "cache_dir"): "--chart-cache-dir",
    ("charts", "cache_max_bytes"): "--chart-cache-max-size",
    ("charts", "repo_refresh_interval"): "--repo-refresh-interval",
    ("charts", "max_chart_size"): "--max-chart-size",
    ("charts", "max_index_size"): "--max-index-size",
    ("charts", "connect_timeout"): "--repo-connect-timeout",
    ("charts", "read_timeout"): "--repo-read-timeout",
    ("charts", "retries"): "--repo-retries",
    ("helm", "helm_bin"): "--helm-bin",
    ("helm", "kill_grace"): "--helm-kill-grace",
    ("helm", "deadline_margin"): "--helm-deadline-margin",
    ("helm", "output_limit"): "--helm-output-limit",
    ("helm", "work_dir"): "--work-dir",
    ("leader", "enabled"): "--leader-election",
    ("leader", "lease_name"): "--lease-name",
    ("leader", "lease_namespace"): "--lease-namespace",
    ("leader", "identity"): "--leader-identity",
    ("leader", "lease_duration"): "--lease-duration",
    ("leader", "renew_deadline"): "--lease-renew-deadline",
    ("leader", "retry_period"): "--lease-retry-period",
    ("http", "listen"): "--listen",
    ("log", "level"): "--log-level",
    ("log", "format"): "--log-format",
}

SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
}


def env_name(flag: str) -> str:
    return "HELMRELEASE_" + flag.lstrip("-").upper().replace("-", "_")


def parse_size(text: str) -> int:
    """Bytes from ``52428800``, ``50Mi`` or ``1G``."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]i?)?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 50Mi, 1Gi, 1048576)")
    return int(match.group(1)) * SIZE_UNITS[(match.group(2) or "").lower()]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def check_listen(text: str) -> str:
    """A listen address the HTTP server will accept, checked as the server reads it."""
    from controller import http  # imported late: `--help` stays fast

    try:
        http.parse_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def parse_choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(choices)}")
        return text.lower()

    return parse


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each dataclass field, read from the source (they are the help)."""
    docs: dict[str, str] = {}
    body = ast.parse(inspect.getsource(cls)).body[0]
    assert isinstance(body, ast.ClassDef)
    statements = body.body
    for stmt, nxt in itertools.pairwise(statements):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def converter(section: str, name: str, hint: Any) -> Callable[[str], Any]:
    """How to turn the text of a flag or variable into the field's type."""
    if (section, name) == ("http", "listen"):
        return check_listen
    if (section, name) == ("log", "format"):
        return parse_choice(("text", "json"))
    if (section, name) == ("log", "level"):
        return lambda text: parse_choice(("debug", "info", "warning", "error"))(text).upper()
    if name.endswith(("_size", "_bytes")):
        return parse_size
    kind = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        kind = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if kind is bool:
        return parse_bool
    if kind is Path:
        return Path
    if kind in (int, float, str):
        return typing.cast(Callable[[str], Any], kind)
    raise TypeError(f"no converter for settings.{section}.{name}: {hint!r}")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    for section in dataclasses.fields(settings.Settings):
        cls = typing.get_type_hints(settings.Settings)[section.name]
        group = parser.add_argument_group(f"{section.name} settings")
        docs = field_docs(cls)
        hints = typing.get_type_hints(cls)
        for fld in dataclasses.fields(cls):
            flag = FLAGS[(section.name, fld.name)]
            help_text = f"{docs.get(fld.name, '')} [env {env_name(flag)}]"
            parse = converter(section.name, fld.name, hints[fld.name])
            if hints[fld.name] is bool:
                group.add_argument(
                    flag,
                    dest=f"{section.name}.{fld.name}",
                    default=None,
                    action=argparse.BooleanOptionalAction,
                    help=help_text,
                )
            else:
                group.add_argument(
                    flag,
                    dest=f"{section.name}.{fld.name}",
                    default=None,
                    type=parse,
                    metavar=fld.name.upper(),
                    help=help_text,
                )


def build_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> settings.Settings:
    """Flags over environment over defaults, section by section."""
    sections: dict[str, Any] = {}
    for section in dataclasses.fields(settings.Settings):
        cls = typing.get_type_hints(settings.Settings)[section.name]
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for fld in dataclasses.fields(cls):
            flag = FLAGS[(section.name, fld.name)]
            value = getattr(args, f"{section.name}.{fld.name}")
            if value is None and env_name(flag) in environ:
                parse = converter(section.name, fld.name, hints[fld.name])
                try:
                    value = parse(environ[env_name(flag)])
                except (argparse.ArgumentTypeError, ValueError) as err:
                    raise SystemExit(f"error: {env_name(flag)}: {err}") from None
            if value is not None:
                values[fld.name] = value
        sections[section.name] = cls(**values)
    built = settings.Settings(**sections)
    if getattr(args, "leader.enabled") is None and env_name("--leader-election") not in environ:
        # Default: elect a leader when running in a cluster (several replicas), not locally.
        in_cluster = "KUBERNETES_SERVICE_HOST" in environ and built.kube.kubeconfig is None
        built = dataclasses.replace(
            built, leader=dataclasses.replace(built.leader, enabled=in_cluster)
        )
    if built.queue.workers < 1:
        raise SystemExit("error: --workers must be at least 1")
    handover = built.leader.lease_duration - built.leader.renew_deadline
    if built.leader.enabled and built.helm.kill_grace >= handover:
        # A replica that loses the Lease kills its helm processes; they must be gone
        # before another replica can take the Lease over.
        raise SystemExit(
            f"error: --helm-kill-grace ({built.helm.kill_grace:g}s) must be shorter than "
            f"--lease-duration minus --lease-renew-deadline ({handover:g}s)"
        )
    return built


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helmrelease-operator",
        description="Releases Helm charts declared as HelmRelease resources.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator")
    add_settings_arguments(run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    built = build_settings(args, os.environ)
    from controller import app  # imported late: `--help` stays fast

    return app.main(built)


if __name__ == "__main__":
    sys.exit(main())
