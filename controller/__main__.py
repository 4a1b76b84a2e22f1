"""Command line: ``helmrelease-operator run --kubeconfig PATH --listen HOST:PORT --workers N``.

Every setting has a flag and an environment variable (``--chart-cache-dir`` ↔
``HELMRELEASE_CHART_CACHE_DIR``); a flag wins over the variable, the variable over
the default. The field docstrings in ``controller.settings`` are the help texts.

helm-operator's command line works too, so that its Deployment keeps its container
args: its flag names are accepted (aliases of ours, or ignored with one warning line
each when they no longer apply), with its value formats (Go durations such as ``3m``,
``--flag=false`` booleans, ``--log-format fmt``, ``--listen :3030``), and without the
``run`` command. ``docs/flags.md`` has the table.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import inspect
import itertools
import logging
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from controller import __version__, logs, settings

log = logging.getLogger("controller.cli")

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
    ("queue", "intent_share"): "--intent-share",
    ("charts", "cache_dir"): "--chart-cache-dir",
    ("charts", "cache_max_bytes"): "--chart-cache-max-size",
    ("charts", "repo_refresh_interval"): "--repo-refresh-interval",
    ("charts", "max_chart_size"): "--max-chart-size",
    ("charts", "max_index_size"): "--max-index-size",
    ("charts", "connect_timeout"): "--repo-connect-timeout",
    ("charts", "read_timeout"): "--repo-read-timeout",
    ("charts", "retries"): "--repo-retries",
    ("charts", "fetch_timeout"): "--chart-fetch-timeout",
    ("charts", "fetch_wait"): "--chart-fetch-wait",
    ("charts", "oci_plain_http"): "--oci-plain-http",
    ("git", "timeout"): "--git-timeout",
    ("git", "poll_interval"): "--git-poll-interval",
    ("git", "update_chart_deps"): "--update-chart-deps",
    ("git", "default_ref"): "--git-default-ref",
    ("helm", "helm_bin"): "--helm-bin",
    ("helm", "kill_grace"): "--helm-kill-grace",
    ("helm", "deadline_margin"): "--helm-deadline-margin",
    ("helm", "dependency_timeout"): "--helm-dependency-timeout",
    ("helm", "output_limit"): "--helm-output-limit",
    ("helm", "work_dir"): "--work-dir",
    ("helm", "kubectl_bin"): "--kubectl-bin",
    ("helm", "default_service_account"): "--default-service-account",
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
    ("log", "release_diffs"): "--log-release-diffs",
    ("sources", "timeout"): "--values-timeout",
    ("sources", "max_size"): "--values-max-size",
    ("sources", "cross_namespace_refs"): "--cross-namespace-refs",
    ("sources", "url_cache_max_bytes"): "--values-url-cache-max-size",
}

MAX_DNS_SUBDOMAIN = 253
"""Longest name of a Kubernetes object such as a ServiceAccount."""

SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
}

# Go's time.ParseDuration units, in seconds.
DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


class UsageError(Exception):
    """Flags or variables that cannot work together; the process exits 2 with one line."""


def env_name(flag: str) -> str:
    return "HELMRELEASE_" + flag.lstrip("-").upper().replace("-", "_")


def compat_dest(flag: str) -> str:
    return "helm_operator." + flag.lstrip("-")


# --- values ---------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """Bytes from ``52428800``, ``50Mi`` or ``1G``."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]i?)?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 50Mi, 1Gi, 1048576)")
    return int(match.group(1)) * SIZE_UNITS[(match.group(2) or "").lower()]


def parse_go_duration(text: str) -> float:
    """Seconds from a Go duration: ``3m``, ``90s``, ``1h30m``, ``1.5h``, ``500ms``, ``0``."""
    body = text.strip()
    if body.startswith("-"):
        raise ValueError(f"a duration must not be negative: {text!r}")
    body = body.removeprefix("+")
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(number + unit for number, unit in parts) != body:
        raise ValueError(f"not a duration: {text!r} (examples: 90s, 3m, 1h30m, 500ms)")
    return sum(float(number) * DURATION_UNITS[unit] for number, unit in parts)


def parse_seconds(text: str) -> float:
    """Seconds from a number of seconds (``90``, ``2.5``) or a Go duration (``90s``, ``3m``)."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_go_duration(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (seconds, or a duration such as 90s, 3m, 1h30m)"
            ) from error
    if not math.isfinite(seconds) or seconds < 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (must be 0 or more)")
    return seconds


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "t", "true", "yes", "on"):
        return True
    if lowered in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r} (true or false)")


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


def parse_log_format(text: str) -> str:
    """``text`` or ``json``; helm-operator's ``fmt`` is our ``text``."""
    chosen = parse_choice(("text", "json", "fmt"))(text)
    return "text" if chosen == "fmt" else chosen


# --- helm-operator's flags ------------------------------------------------------------------

TILLER = "Tiller (Helm 2) is not supported; releases are made with Helm 3"
CONVERSION = (
    "Helm 2 to 3 conversion is not supported; convert Helm 2 releases with helm-2to3 "
    "before switching"
)

HELM_OPERATOR_ALIASES: Mapping[str, tuple[str, str]] = {
    "--charts-sync-interval": ("queue", "resync_interval"),
    "--allow-namespace": ("watch", "namespace"),
    "-l": ("http", "listen"),
}
"""helm-operator flag -> the setting it sets (the value format of ours, which takes theirs)."""

HELM_OPERATOR_SAME_NAME = (
    "--kubeconfig",
    "--workers",
    "--listen",
    "--log-format",
    "--log-release-diffs",
    "--update-chart-deps",
    "--git-timeout",
    "--git-poll-interval",
    "--git-default-ref",
)
"""helm-operator flags that are also ours, under the same name, taking its value formats."""


@dataclasses.dataclass(frozen=True)
class Ignored:
    """A helm-operator flag that is accepted and has no effect (logged once at start)."""

    why: str
    kind: str = "value"  # "value", "bool" (pflag boolean) or "list" (pflag string slice)
    verdict: str = "ignored"
    level: int = logging.WARNING
    check: Callable[[str], Any] | None = None  # a value helm-operator would have refused


HELM_OPERATOR_IGNORED: Mapping[str, Ignored] = {
    "--master": Ignored(
        "the API server address comes from the kubeconfig (or the in-cluster service "
        "account); set the server there"
    ),
    "--status-update-interval": Ignored(
        "a HelmRelease's status is written as soon as its release changes (release "
        "records are watched, not polled)",
        verdict="not needed",
        level=logging.INFO,
        check=parse_seconds,
    ),
    "--tiller-ip": Ignored(TILLER),
    "--tiller-port": Ignored(TILLER),
    "--tiller-namespace": Ignored(TILLER),
    "--tiller-tls-enable": Ignored(TILLER, "bool"),
    "--tiller-tls-verify": Ignored(TILLER, "bool"),
    "--tiller-tls-key-path": Ignored(TILLER),
    "--tiller-tls-cert-path": Ignored(TILLER),
    "--tiller-tls-ca-cert-path": Ignored(TILLER),
    "--tiller-tls-hostname": Ignored(TILLER),
    "--convert-release-storage": Ignored(CONVERSION),
    "--convert-tiller-out-cluster": Ignored(CONVERSION, "bool"),
    "--helm-repository-import": Ignored(
        "no repository index is imported: chart repositories are read by the URL each "
        "HelmRelease names",
        "list",
    ),
}

HELM_VERSIONS_FLAG = "--enabled-helm-versions"
HELM_VERSIONS_ENV = "HELM_VERSION"
"""helm-operator read its enabled Helm versions from this variable when the flag was unset."""


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


def _is_seconds(hint: Any) -> bool:
    return typing.get_origin(hint) is typing.Annotated and settings.SECONDS in hint.__metadata__


def converter(section: str, name: str, hint: Any) -> Callable[[str], Any]:
    """How to turn the text of a flag or variable into the field's type.

    ``hint`` is the field's type hint with its ``Annotated`` extras (``settings.Seconds``).
    """
    if (section, name) == ("http", "listen"):
        return check_listen
    if (section, name) == ("log", "format"):
        return parse_log_format
    if (section, name) == ("log", "level"):
        return lambda text: parse_choice(("debug", "info", "warning", "error"))(text).upper()
    if name.endswith(("_size", "_bytes")):
        return parse_size
    if _is_seconds(hint):
        return parse_seconds
    kind = hint
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)  # X | None
    if optional:
        kind = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if kind is bool:
        return parse_bool
    if kind is Path:
        return Path
    if kind in (int, float, str):
        return typing.cast(Callable[[str], Any], kind)
    if typing.get_origin(kind) is tuple:  # a comma-separated list
        return lambda text: tuple(comma_list(text))
    raise TypeError(f"no converter for settings.{section}.{name}: {hint!r}")


def _section_hints(section: str) -> tuple[type, dict[str, Any]]:
    cls = typing.get_type_hints(settings.Settings)[section]
    return cls, typing.get_type_hints(cls, include_extras=True)


# --- the parser -----------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse with errors on one line: a usage dump of fifty flags would bury them."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class BoolFlag(argparse.Action):
    """A boolean as Go's pflag takes it: ``--flag``, ``--flag=true``, ``--flag=false``.

    Registered with ``--no-flag`` as well (hidden: ``--flag=false`` is the documented
    form), which takes no value.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("metavar", "BOOL")
        super().__init__(option_strings, dest, nargs="?", const=None, type=parse_bool, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string is not None and option_string.startswith("--no-"):
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
        else:
            setattr(namespace, self.dest, True if values is None else values)


class AppendList(argparse.Action):
    """A pflag string slice: ``--flag a,b``; repeating the flag adds to the list."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = comma_list(str(values))
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or []), *items])


def comma_list(text: str) -> list[str]:
    """The items of a pflag string slice (``a,b``), blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    for section in dataclasses.fields(settings.Settings):
        cls, hints = _section_hints(section.name)
        group = parser.add_argument_group(f"{section.name} settings")
        docs = field_docs(cls)
        for fld in dataclasses.fields(cls):
            flag = FLAGS[(section.name, fld.name)]
            dest = f"{section.name}.{fld.name}"
            help_text = f"{docs.get(fld.name, '')} [env {env_name(flag)}]"
            if hints[fld.name] is bool:
                group.add_argument(flag, dest=dest, default=None, action=BoolFlag, help=help_text)
                negated = "--no-" + flag.removeprefix("--")
                group.add_argument(
                    negated, dest=dest, default=None, action=BoolFlag, help=argparse.SUPPRESS
                )
            else:
                group.add_argument(
                    flag,
                    dest=dest,
                    default=None,
                    type=converter(section.name, fld.name, hints[fld.name]),
                    metavar=fld.name.upper(),
                    help=help_text,
                )


def add_helm_operator_arguments(parser: argparse.ArgumentParser) -> None:
    """helm-operator's flags, in a help group of their own."""
    group = parser.add_argument_group(
        "helm-operator compatibility",
        "helm-operator's flags, so that its Deployment keeps its args. Flags of the same "
        f"name are ours above: {', '.join(HELM_OPERATOR_SAME_NAME)}.",
    )
    for flag, (section, name) in HELM_OPERATOR_ALIASES.items():
        _, hints = _section_hints(section)
        group.add_argument(
            flag,
            dest=f"{section}.{name}",
            default=None,
            type=converter(section, name, hints[name]),
            metavar=name.upper(),
            help=f"same as {FLAGS[(section, name)]}",
        )
    group.add_argument(
        HELM_VERSIONS_FLAG,
        dest=compat_dest(HELM_VERSIONS_FLAG),
        default=None,
        action=AppendList,
        metavar="VERSIONS",
        help=f"must include v3; v2 is ignored (no Tiller) [env {HELM_VERSIONS_ENV}]",
    )
    for flag, ignored in HELM_OPERATOR_IGNORED.items():
        dest = compat_dest(flag)
        help_text = f"{ignored.verdict}: {ignored.why}"
        if ignored.kind == "bool":
            group.add_argument(flag, dest=dest, default=None, action=BoolFlag, help=help_text)
        elif ignored.kind == "list":
            group.add_argument(
                flag, dest=dest, default=None, action=AppendList, metavar="LIST", help=help_text
            )
        else:
            group.add_argument(
                flag,
                dest=dest,
                default=None,
                type=ignored.check or str,
                metavar="VALUE",
                help=help_text,
            )


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="helmrelease-operator",
        description="Releases Helm charts declared as HelmRelease resources.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run the operator (the default when the first argument is a flag)",
        description=(
            "Run the operator. Durations are seconds (90) or Go durations (90s, 3m, 1h30m); "
            "booleans are --flag, --flag=true or --flag=false; a flag wins over its "
            "HELMRELEASE_* variable."
        ),
        allow_abbrev=False,
    )
    add_settings_arguments(run)
    add_helm_operator_arguments(run)
    ask = commands.add_parser(
        "reconcile",
        help="ask the running operator to reconcile a HelmRelease now",
        description=(
            "Annotate a HelmRelease with reconcile.fluxcd.io/requestedAt (and, with --force, "
            "reconcile.fluxcd.io/forceAt): the operator reconciles it at once, tries a spec "
            "that failed once more, and with --force upgrades it even in sync."
        ),
        allow_abbrev=False,
    )
    ask.add_argument("target", metavar="NAMESPACE/NAME", type=namespaced_name)
    ask.add_argument("--force", action="store_true", help="upgrade even if in sync")
    ask.add_argument("--kubeconfig", help="kubeconfig file (else KUBECONFIG, ~/.kube/config)")
    ask.add_argument("--context", help="kubeconfig context (else the current one)")
    render = commands.add_parser(
        "post-render",
        help="helm's post-renderer: a HelmRelease's spec.postRenderers applied with kustomize",
        description=(
            "Read the manifest helm rendered on stdin, apply each post-renderer of SPEC_FILE "
            "(the JSON list of a HelmRelease's spec.postRenderers) with the kustomize built "
            "into kubectl, write the result to stdout. helm starts it; a failure is one line "
            "on stderr and a non-zero exit."
        ),
        allow_abbrev=False,
    )
    render.add_argument("spec_file", metavar="SPEC_FILE", type=Path)
    kubectl_flag = FLAGS[("helm", "kubectl_bin")]
    render.add_argument(
        kubectl_flag,
        dest="kubectl_bin",
        metavar="KUBECTL_BIN",
        help=f"the kubectl binary, looked up in PATH unless a path [env {env_name(kubectl_flag)}]",
    )
    render.add_argument(
        "--error-file", type=Path, help="also write the error line to this file when failing"
    )
    return parser


def namespaced_name(text: str) -> tuple[str, str]:
    """``NAMESPACE/NAME`` of a HelmRelease."""
    namespace, _, name = text.partition("/")
    if not namespace or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAMESPACE/NAME")
    return namespace, name


def reconcile_now(args: argparse.Namespace) -> int:
    """The ``reconcile`` command: 0 once the HelmRelease is annotated, 2 when it cannot be."""
    from controller import ondemand  # imported late: `--help` stays fast
    from controller.startup import StartupError

    logs.setup("INFO", "text")
    namespace, name = args.target
    kube = settings.KubeSettings(kubeconfig=args.kubeconfig, context=args.context)
    try:
        done = asyncio.run(ondemand.request(kube, namespace, name, force=args.force))
    except StartupError as error:
        log.error("%s", error)
        return 2
    print(done)
    return 0


def post_render(args: argparse.Namespace) -> int:
    """The ``post-render`` command: 0 with the rendered manifest on stdout, else 1."""
    from controller import postrender  # imported late: the operator's modules are not needed

    kubectl = args.kubectl_bin or os.environ.get(env_name(FLAGS[("helm", "kubectl_bin")]))
    return postrender.main(
        args.spec_file,
        kubectl or settings.HelmSettings().kubectl_bin,
        error_file=args.error_file,
    )


def with_command(argv: Sequence[str]) -> list[str]:
    """``run`` is implied when the arguments start with a flag (helm-operator had no command)."""
    args = list(argv)
    if args and args[0].startswith("-") and args[0] not in ("-h", "--help", "--version"):
        return ["run", *args]
    return args


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    return make_parser().parse_args(with_command(argv))


# --- settings -------------------------------------------------------------------------------


def build_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> settings.Settings:
    """Flags over environment over defaults, section by section; raises ``UsageError``."""
    return configure(args, environ)[0]


def configure(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[settings.Settings, list[tuple[int, str]]]:
    """The settings, and the (level, line) notes to log at start (helm-operator flags that
    have no effect here); raises ``UsageError`` on settings that cannot work."""
    sections: dict[str, Any] = {}
    for section in dataclasses.fields(settings.Settings):
        cls, hints = _section_hints(section.name)
        values: dict[str, Any] = {}
        for fld in dataclasses.fields(cls):
            flag = FLAGS[(section.name, fld.name)]
            value = getattr(args, f"{section.name}.{fld.name}")
            if value is None and env_name(flag) in environ:
                parse = converter(section.name, fld.name, hints[fld.name])
                try:
                    value = parse(environ[env_name(flag)])
                except (argparse.ArgumentTypeError, ValueError) as err:
                    raise UsageError(f"{env_name(flag)}: {err}") from None
            if value == "" and fld.default is None:
                values[fld.name] = None  # `--allow-namespace=`: unset (every namespace)
            elif value is not None:
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
        raise UsageError("--workers must be at least 1")
    if built.queue.intent_share < 0:
        raise UsageError("--intent-share must be 0 or more")
    account = built.helm.default_service_account
    if account is not None and not is_dns_subdomain(account):
        raise UsageError(f"--default-service-account {account!r} is not a ServiceAccount name")
    handover = built.leader.lease_duration - built.leader.renew_deadline
    if built.leader.enabled and built.helm.kill_grace >= handover:
        # A replica that loses the Lease kills its helm processes; they must be gone
        # before another replica can take the Lease over.
        raise UsageError(
            f"--helm-kill-grace ({built.helm.kill_grace:g}s) must be shorter than "
            f"--lease-duration minus --lease-renew-deadline ({handover:g}s)"
        )
    return built, [*_helm_versions_notes(args, environ), *_ignored_notes(args)]


def is_dns_subdomain(name: str) -> bool:
    """Whether ``name`` can name a Kubernetes object such as a ServiceAccount."""
    from controller.api import is_dns_label

    parts = name.split(".")
    return len(name) <= MAX_DNS_SUBDOMAIN and all(is_dns_label(part, 63) for part in parts)


def _ignored_notes(args: argparse.Namespace) -> list[tuple[int, str]]:
    return [
        (ignored.level, f"{flag} is {ignored.verdict}: {ignored.why}")
        for flag, ignored in HELM_OPERATOR_IGNORED.items()
        if getattr(args, compat_dest(flag), None) is not None
    ]


def _helm_versions_notes(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> list[tuple[int, str]]:
    """helm-operator's enabled Helm versions: only v3 is served here; without v3 a
    helm-operator served no Helm 3 release, so starting would change what is released."""
    versions: list[str] | None = getattr(args, compat_dest(HELM_VERSIONS_FLAG), None)
    source = HELM_VERSIONS_FLAG
    notes: list[tuple[int, str]] = []
    if versions is None:
        text = environ.get(HELM_VERSIONS_ENV, "").strip()
        if not text:
            return []
        listed = [item.strip() for item in text.split(",") if item.strip()]
        if not {item.lower() for item in listed} & {"v2", "v3"}:
            # Some other tool's variable (HELM_VERSION=3.14.0, say), not helm-operator's.
            return [(logging.INFO, f"{HELM_VERSIONS_ENV}={text} is ignored: not v2 or v3")]
        versions, source = listed, HELM_VERSIONS_ENV
    spelled = f"{source}={','.join(versions)}"
    lowered = [version.lower() for version in versions]
    if "v3" not in lowered:
        raise UsageError(
            f"{spelled} does not include v3: helm-operator served no Helm 3 release with it, "
            "and this operator releases with Helm 3 only: add v3 or remove the setting"
        )
    if "v2" in lowered:
        notes.append((logging.WARNING, f"{spelled}: v2 is ignored: {TILLER}"))
    unknown = [version for version in versions if version.lower() not in ("v2", "v3")]
    if unknown:
        notes.append(
            (logging.WARNING, f"{spelled}: {', '.join(unknown)} ignored: not a Helm version")
        )
    return notes


def _log_format(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """The log format asked for, for a line logged before the settings could be built."""
    chosen = getattr(args, "log.format", None) or environ.get(env_name("--log-format"), "")
    try:
        return parse_log_format(chosen)
    except argparse.ArgumentTypeError:
        return "text"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "reconcile":
        return reconcile_now(args)
    if args.command == "post-render":
        return post_render(args)
    try:
        built, notes = configure(args, os.environ)
    except UsageError as error:
        logs.setup("INFO", _log_format(args, os.environ))
        log.error("cannot start: %s", error)
        return 2
    logs.setup(built.log.level, built.log.format)
    for level, line in notes:
        log.log(level, "%s", line)
    from controller import app  # imported late: `--help` stays fast

    return app.main(built)


if __name__ == "__main__":
    sys.exit(main())
