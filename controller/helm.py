"""The only place that starts helm: argv in, a :class:`HelmResult` out.

Every helm process runs with a minimal environment (no operator secrets leak into
it) and private helm/kube cache homes, under our own deadline above helm's
``--timeout``: when that expires, or when the awaiting task is cancelled, helm gets
SIGTERM and, after ``kill_grace``, SIGKILL. Values never appear on the command line
nor on disk: helm reads them from its standard input (``-f -``, helm 3 and 4), a pipe
(:func:`values_document`). Errors are helm's own ``Error:`` paragraph, scrubbed of any
string from the values (and of the post-renderers' directory path).

A result says only whether helm succeeded, never which revision it made: helm's
release output (``-o json``) holds the whole chart, manifest and values, so it can
exceed any cap we read it with and would pipe the values into the operator. Callers
read the release record instead (``controller.releases.read_release``). helm's
standard output is not read at all for release commands (its NOTES may quote values).

Helm 3 and helm 4 differ in a few flags; the major version is detected once per
runner and mapped by :data:`FLAGS`. Found by comparing ``helm upgrade --help`` of
helm 3.17.3 and 4.1.4:

- ``--force`` (helm 3) became ``--force-replace`` (helm 4; ``--force`` is deprecated),
  which helm 4 refuses together with server-side apply ("cannot use server-side apply
  and force replace together"), so a forced upgrade also passes ``--server-side=false``
  (and later upgrades, with ``--server-side=auto``, keep client-side apply);
- ``--wait`` is a boolean in helm 3 and takes a strategy in helm 4; a bare ``--wait``
  works in both (helm 4 reads it as ``--wait=watcher``);
- helm 4 adds ``--server-side`` (default ``auto``: keep the release's previous apply
  method), left at its default;
- ``rollback --force`` (helm 3) is ``--force-replace`` in helm 4 too (with
  ``--server-side=false``, as for upgrades); ``rollback --recreate-pods`` (helm 3) has no
  counterpart in helm 4: ``rollback_unsupported`` names it so the status can say so;
- ``helm test`` is the same in both;
- ``uninstall --ignore-not-found`` exists in both: a missing release is a success.

Post-renderers (``spec.postRenderers``) are our own ``post-render`` command
(``controller.postrender``), which applies them with kubectl's kustomize. helm starts
it, and each major spells that differently (read in helm's sources, tried with both):

- helm 3: ``--post-renderer EXECUTABLE`` and one ``--post-renderer-args=ARG`` per
  argument: the executable is our console script (or the interpreter, with
  ``-m controller``), the arguments ``post-render`` and those of the run;
- helm 4 runs only plugins: ``--post-renderer helmrelease-operator-post-render`` names a
  plugin of type ``postrenderer/v1`` (``plugin.yaml`` with ``runtime: subprocess``, whose
  ``platformCommand`` is the program and ``post-render``) in ``$HELM_PLUGINS``, our
  private home's ``plugins`` directory, written once; ``--post-renderer-args`` are
  appended to the command as they are. helm 3 refuses to start at all with such a
  ``plugin.yaml`` in its plugins directory, so it is written for helm 4 only; and helm 4
  drops a plugin's stderr, so the program also writes its error line to a file, which
  the result's error is then made of (the same with both majors).

The renderers go through a 0600 JSON file in a private 0700 directory, removed in every
case.

With ``as_user``, helm acts as that user (``--kube-as-user``, impersonation): a
HelmRelease's ServiceAccount is ``system:serviceaccount:NAMESPACE:NAME``
(:func:`service_account_user`).

Release labels (``--labels``), checked with both versions against an API server:
``upgrade --install --labels k=v`` puts ``k=v`` on the release record (the labels of
the ``sh.helm.release.v1.<name>.v<rev>`` Secret, next to helm's own ``owner``,
``name``, ``status`` and ``version``). A later ``helm upgrade`` without ``--labels``
keeps them on the new revision: helm merges the previous revision's labels with the
ones given, and a label is only removed by passing ``k=null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller import metrics
from controller.api import ReleaseOptions, RollbackPolicy
from controller.keys import ReleaseKey
from controller.settings import HelmSettings, child_environment

log = logging.getLogger(__name__)

ERROR_LIMIT = 1024
"""Characters of helm's error message kept in a result."""

REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 4
"""Shorter strings from the values are not redacted: they would mangle ordinary words."""

FLAGS: Mapping[int, Mapping[str, tuple[str, ...]]] = {
    3: {"force": ("--force",), "recreate": ("--recreate-pods",)},
    # helm 4 refuses to replace objects with server-side apply, its default method.
    4: {"force": ("--force-replace", "--server-side=false"), "recreate": ()},
}
"""Arguments whose spelling depends on helm's major version."""

VERSION_TIMEOUT = 30.0
"""Seconds ``helm version`` may take (it does not talk to the cluster)."""

RENDERERS_FILE = "post-renderers.json"
POST_RENDER_ERROR_FILE = "post-render-error"
"""Files of the private directory of one helm run with post-renderers: the
post-renderers, and the post-render program's error line."""

POST_RENDER_COMMAND = "post-render"
CONSOLE_SCRIPT = "helmrelease-operator"
PLUGIN_NAME = "helmrelease-operator-post-render"
PLUGIN_VERSION = "1.0.0"
PLUGINS_DIR = "plugins"
"""The directory of the private helm home that ``HELM_PLUGINS`` names."""


@dataclass(frozen=True)
class HelmResult:
    command: str
    """``upgrade``, ``uninstall``, ``rollback`` (the helm subcommand)."""

    ok: bool
    exit_code: int | None
    """None when helm was stopped by us."""

    timed_out: bool
    """Our own deadline expired and helm was stopped."""

    duration: float
    """Seconds from start to exit."""

    error: str
    """"" when ok; else helm's error paragraph, or the post-renderers' error line (scrubbed
    of values, then capped)."""


@dataclass(frozen=True)
class PostRender:
    """How helm runs the post-render program for one ``helm upgrade``."""

    program: tuple[str, ...]
    """The command of ``helmrelease-operator`` (:func:`post_render_program`)."""

    kubectl_bin: str
    """The kubectl whose kustomize the program runs (``HelmSettings.kubectl_bin``)."""

    renderers: Path
    """The JSON list of the HelmRelease's post-renderers (0600, in a private directory)."""

    error: Path
    """Where the program writes its error line when it fails."""

    def arguments(self) -> list[str]:
        """The arguments of ``post-render`` for this run."""
        return [
            f"--kubectl-bin={self.kubectl_bin}",
            f"--error-file={self.error}",
            str(self.renderers),
        ]


class HelmUnavailable(Exception):
    """The helm binary cannot be started or its version cannot be read."""


@dataclass(frozen=True)
class _Exit:
    """What a finished helm process left behind."""

    exit_code: int | None
    timed_out: bool
    duration: float
    stdout: bytes
    """Empty unless asked for (release commands never read it)."""
    stderr: bytes


class HelmRunner:
    """Starts helm processes for releases; one instance per operator."""

    def __init__(self, settings: HelmSettings, env: Mapping[str, str]) -> None:
        self._settings = settings
        self._extra_env = dict(env)
        self._home: Path | None = None
        self._home_descriptor: int | None = None
        self._home_lock = asyncio.Lock()
        self._version: tuple[int, str] | None = None
        self._version_lock = asyncio.Lock()
        self._running: Counter[ReleaseKey] = Counter()
        self._program: tuple[str, ...] | None = None
        self._program_lock = asyncio.Lock()

    def lifetime(self, timeout: float) -> float:
        """The longest a helm process of ours with ``--timeout`` ``timeout`` can live (then
        it is stopped): a release locked for less may still be in a live helm's hands."""
        return timeout + self._settings.deadline_margin

    def is_running(self, release: ReleaseKey) -> bool:
        """Whether a helm process of ours is running for this release right now."""
        return self._running.get(release, 0) > 0

    async def close(self) -> None:
        """Remove the private helm home (call after the last helm process ended)."""
        if self._home is not None:
            await asyncio.to_thread(shutil.rmtree, self._home, True)
            self._home = None
            self._program = None
        if self._home_descriptor is not None:
            os.close(self._home_descriptor)
            self._home_descriptor = None

    async def remove_stale_homes(self) -> int:
        """Remove what operators that are gone left in the work directory (at start-up)."""
        return await asyncio.to_thread(remove_stale_homes, self._settings.work_dir)

    async def version(self) -> tuple[int, str]:
        """helm's major version and version string (``(4, "v4.1.4")``), detected once."""
        async with self._version_lock:
            if self._version is None:
                self._version = await self._detect_version()
            return self._version

    async def upgrade(
        self,
        *,
        release: ReleaseKey,
        chart_path: Path,
        values: Mapping[str, Any],
        options: ReleaseOptions,
        install: bool,
        labels: Mapping[str, str],
        as_user: str | None = None,
    ) -> HelmResult:
        """``helm upgrade [--install]`` with the declared values (the whole of them, unless
        the options ask helm to reuse the release's) and post-renderers."""
        major, _ = await self.version()
        document = values_document(values)
        async with self._post_render_files(options.post_renderers, major) as post_render:
            args = [
                "upgrade",
                release.name,
                str(chart_path),
                "--namespace",
                release.namespace,
                "-f",
                "-",
                *upgrade_flags(options, major, post_render),
                *_switch(install, "--install"),
                *_labels_args(labels),
            ]
            directory = [str(post_render.renderers.parent)] if post_render else []
            return await self._run(
                "upgrade",
                release,
                args,
                options.timeout,
                secrets=[*directory, *_strings(values)],
                action="install" if install else "upgrade",
                as_user=as_user,
                post_render_error=post_render.error if post_render else None,
                stdin=document,
            )

    async def uninstall(
        self,
        *,
        release: ReleaseKey,
        timeout: float,  # noqa: ASYNC109 - helm's --timeout; our deadline adds deadline_margin
        as_user: str | None = None,
    ) -> HelmResult:
        """``helm uninstall``; a release that does not exist counts as uninstalled."""
        args = [
            "uninstall",
            release.name,
            "--namespace",
            release.namespace,
            "--timeout",
            go_duration(timeout),
            "--ignore-not-found",
        ]
        return await self._run("uninstall", release, args, timeout, secrets=[], as_user=as_user)

    async def rollback(
        self,
        *,
        release: ReleaseKey,
        revision: int,
        policy: RollbackPolicy,
        max_history: int,
        as_user: str | None = None,
    ) -> HelmResult:
        """``helm rollback`` to ``revision`` (creates a new revision)."""
        major, _ = await self.version()
        args = [
            "rollback",
            release.name,
            str(revision),
            "--namespace",
            release.namespace,
            *rollback_flags(policy, major),
            *["--history-max", str(max_history)],
        ]
        return await self._run(
            "rollback", release, args, policy.timeout, secrets=[], as_user=as_user
        )

    async def test(
        self,
        *,
        release: ReleaseKey,
        timeout: float,  # noqa: ASYNC109 - helm's --timeout; our deadline adds deadline_margin
        as_user: str | None = None,
    ) -> HelmResult:
        """``helm test``: runs the chart's test hooks; fails when one of them fails."""
        args = ["test", release.name, "--namespace", release.namespace]
        args += ["--timeout", go_duration(timeout)]
        return await self._run("test", release, args, timeout, secrets=[], as_user=as_user)

    async def build_dependencies(self, chart_dir: Path) -> str | None:
        """``helm dependency build`` of a chart directory (a chart from git): its ``charts/``
        filled from the repositories its Chart.yaml names. None, or helm's error."""
        home = await self._private_home()
        args = ["dependency", "build", str(chart_dir)]
        args += ["--repository-config", str(home / "dependency-repositories.yaml")]
        args += ["--repository-cache", str(home / "dependency-cache")]
        timeout = self._settings.dependency_timeout
        done = await self._execute("dependency", args, timeout)
        result = _result("dependency", done, [])
        return None if result.ok else result.error

    # --- processes ----------------------------------------------------------------------

    async def _detect_version(self) -> tuple[int, str]:
        try:
            done = await self._execute(
                "version",
                ["version", "--template", "{{.Version}}"],
                VERSION_TIMEOUT,
                read_stdout=True,
            )
        except OSError as exc:
            raise HelmUnavailable(f"cannot start {self._settings.helm_bin}: {exc}") from exc
        unstarted = done.stderr.decode(errors="replace")
        if done.exit_code in (126, 127) and unstarted.startswith("setpriv: failed to execute"):
            reason = unstarted.rsplit(": ", 1)[-1].strip()
            raise HelmUnavailable(f"cannot start {self._settings.helm_bin}: {reason}")
        text = done.stdout.decode(errors="replace").strip()
        match = re.fullmatch(r"v(\d+)\.\d+\.\d+\S*", text)
        if done.exit_code != 0 or match is None or int(match.group(1)) not in FLAGS:
            raise HelmUnavailable(f"unsupported helm version {text[:100]!r}")
        log.info("helm version %s", text)
        return int(match.group(1)), text

    async def _run(
        self,
        command: str,
        release: ReleaseKey,
        args: list[str],
        helm_timeout: float,
        *,
        secrets: Iterable[str],
        action: str | None = None,
        as_user: str | None = None,
        post_render_error: Path | None = None,
        stdin: bytes | None = None,
    ) -> HelmResult:
        """Run helm ``command`` on ``release``, as ``as_user`` if given (impersonated);
        ``action``: what it does to the release, as helm-operator's metrics name it (default:
        ``command``); ``post_render_error``: the post-render program's error file, if any;
        ``stdin``: what helm reads on its standard input (else nothing)."""
        log.debug("helm %s %s: starting", command, release)
        if as_user is not None:
            args = [*args, "--kube-as-user", as_user]
        self._running[release] += 1
        try:
            deadline = helm_timeout + self._settings.deadline_margin
            done = await self._execute(command, args, deadline, stdin=stdin)
        finally:
            self._running[release] -= 1
            if self._running[release] <= 0:
                del self._running[release]
        failure = ""
        if post_render_error is not None and done.exit_code not in (0, None):
            failure = await asyncio.to_thread(_read_error_line, post_render_error)
        result = _result(command, done, secrets, failure)
        metrics.RELEASES.action(
            action or command, result.ok, release.namespace, release.name, result.duration
        )
        if result.ok:
            log.info("helm %s %s: ok in %.1fs", command, release, result.duration)
        else:
            log.warning(
                "helm %s %s failed in %.1fs: %s", command, release, result.duration, result.error
            )
        return result

    async def _execute(
        self,
        command: str,
        args: list[str],
        deadline: float,
        *,
        read_stdout: bool = False,
        stdin: bytes | None = None,
    ) -> _Exit:
        """Run helm to completion, or stop it after ``deadline`` seconds; output capped;
        ``stdin`` written to its standard input (a pipe, closed after it)."""
        env = await self._child_env()
        metrics.HELM_STARTED.labels(command).inc()
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *TIED_TO_OPERATOR,
            self._settings.helm_bin,
            *args,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE if read_stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: signals reach plugins too
        )
        assert process.stderr is not None
        if process.stdin is not None:
            # Buffered by the pipe's transport, which writes the rest as helm reads and
            # closes the pipe then; a helm that exits unread only breaks the pipe.
            process.stdin.write(stdin or b"")
            process.stdin.close()
        limit = self._settings.output_limit
        stdout = asyncio.create_task(
            read_capped(process.stdout, limit, keep_tail=False)
            if process.stdout is not None
            else _no_output()
        )
        stderr = asyncio.create_task(read_capped(process.stderr, limit, keep_tail=True))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(deadline):
                    await process.wait()
            except TimeoutError:
                timed_out = True
                await _complete(self._stop(process))
            # A grandchild may still hold the pipes open: do not wait for it forever.
            await asyncio.wait([stdout, stderr], timeout=self._settings.kill_grace)
        except BaseException:  # cancelled (operator shutdown): helm must not outlive us
            await _complete(self._stop(process))
            raise
        finally:
            await _cancel_all([stdout, stderr])
        duration = time.monotonic() - started
        exit_code = None if timed_out else process.returncode
        outcome = "timeout" if timed_out else "ok" if exit_code == 0 else "error"
        metrics.HELM_DURATION.labels(command, outcome).observe(duration)
        return _Exit(
            exit_code=exit_code,
            timed_out=timed_out,
            duration=duration,
            stdout=stdout.result() if stdout.done() and not stdout.cancelled() else b"",
            stderr=stderr.result() if stderr.done() and not stderr.cancelled() else b"",
        )

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM helm's process group, then SIGKILL after the grace period."""
        if process.returncode is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            async with asyncio.timeout(self._settings.kill_grace):
                await process.wait()
                return
        except TimeoutError:
            pass
        _signal_group(process, signal.SIGKILL)
        await process.wait()

    async def _child_env(self) -> dict[str, str]:
        home = await self._private_home()
        env = child_environment()
        env.update(
            HOME=str(home),
            HELM_CACHE_HOME=str(home / "cache"),
            HELM_CONFIG_HOME=str(home / "config"),
            HELM_DATA_HOME=str(home / "data"),
            KUBECACHEDIR=str(home / "kube-cache"),
            HELM_PLUGINS=str(home / PLUGINS_DIR),
        )
        env.update(self._extra_env)
        return env

    async def _private_home(self) -> Path:
        async with self._home_lock:
            if self._home is None:
                made = await asyncio.to_thread(_private_home, self._settings.work_dir)
                self._home, self._home_descriptor = made
            return self._home

    async def _post_render(self, directory: Path, major: int) -> PostRender:
        """How helm runs the post-render program over the files of ``directory``; for helm 4
        its plugin is written first (once)."""
        async with self._program_lock:
            if self._program is None:
                home = await self._private_home()
                self._program = await asyncio.to_thread(_install_post_renderer, home, major)
        return PostRender(
            program=self._program,
            kubectl_bin=self._settings.kubectl_bin,
            renderers=directory / RENDERERS_FILE,
            error=directory / POST_RENDER_ERROR_FILE,
        )

    @contextlib.asynccontextmanager
    async def _post_render_files(
        self, renderers: Sequence[Mapping[str, Any]], major: int
    ) -> AsyncIterator[PostRender | None]:
        """How helm runs the post-renderers, if any: their 0600 file in a fresh 0700
        directory, removed in every case."""
        if not renderers:
            yield None
            return
        home = await self._private_home()
        written = asyncio.ensure_future(asyncio.to_thread(_new_renderers_file, home, renderers))
        try:
            path = await asyncio.shield(written)
        except asyncio.CancelledError:
            await _complete(_remove_renderers_file(written))  # the thread may still write it
            raise
        try:
            yield await self._post_render(path.parent, major)
        finally:
            await _complete(asyncio.to_thread(shutil.rmtree, path.parent, True))


# --- helpers -------------------------------------------------------------------------------


SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None
TIED_TO_OPERATOR: tuple[str, ...] = (SETPRIV, "--pdeathsig", "KILL", "--") if SETPRIV else ()
"""What helm is started through: util-linux's ``setpriv`` asks Linux to kill it when the
operator dies (``PR_SET_PDEATHSIG``), even by SIGKILL, so that a restarted operator never
meets a helm of its predecessor still working on a release (never two helm processes on one
release). A program rather than a ``preexec_fn``: Python forks the whole operator for a
``preexec_fn`` instead of the vfork it otherwise uses, which costs milliseconds of the
event loop per helm process. Without ``setpriv`` (not Linux), a locked release is still
waited for the longest a helm of ours can live."""


def prefer_pidfd_child_watcher() -> None:
    """Let the event loop wait for helm processes through Linux's pidfd (Python 3.12's
    default) rather than Python 3.11's thread per child process. Call it from the running
    loop before the first helm; a no-op where pidfd is missing or already the default."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return  # a kernel without pidfd: the threads stay
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration string helm parses (``--timeout``)."""
    return f"{max(0, round(seconds * 1000))}ms"


def upgrade_flags(
    options: ReleaseOptions, major: int, post_render: PostRender | None = None
) -> list[str]:
    """The ``helm upgrade`` flags of every release option, spelled for helm ``major``;
    ``post_render`` is required when the options have post-renderers."""
    if options.post_renderers and post_render is None:
        raise ValueError("post-renderers need the post-render program's files")
    return [
        *["--timeout", go_duration(options.timeout)],
        *_switch(options.wait, "--wait"),
        # Both ways explicit: given no values, helm would otherwise reuse the release's.
        *(["--reset-values"] if options.reset_values else ["--reuse-values"]),
        *_switch(options.force, *FLAGS[major]["force"]),
        *_switch(options.skip_crds, "--skip-crds"),
        *["--history-max", str(options.max_history)],
        *_switch(options.disable_openapi_validation, "--disable-openapi-validation"),
        *_switch(options.create_namespace, "--create-namespace"),
        *(post_render_flags(post_render, major) if options.post_renderers and post_render else []),
    ]


def post_render_flags(post_render: PostRender, major: int) -> list[str]:
    """``--post-renderer`` and its arguments: our program itself for helm 3, the plugin
    that runs it for helm 4 (see the module's docstring)."""
    if major == 3:
        executable, *leading = post_render.program
        args = [*leading, POST_RENDER_COMMAND, *post_render.arguments()]
    else:
        executable, args = PLUGIN_NAME, post_render.arguments()
    # `=`: an argument that starts with a dash is not read as a flag of helm's.
    return ["--post-renderer", executable, *(f"--post-renderer-args={arg}" for arg in args)]


def post_render_program() -> tuple[str, ...]:
    """The command of our own CLI: the console script installed beside the running
    interpreter, else the interpreter with ``-m controller`` (a source tree)."""
    script = Path(sys.executable).parent / CONSOLE_SCRIPT
    if os.access(script, os.X_OK):
        return (str(script),)
    return (sys.executable, "-m", "controller")


def service_account_user(namespace: str, name: str) -> str:
    """The user a ServiceAccount is impersonated as (``as_user``)."""
    return f"system:serviceaccount:{namespace}:{name}"


def rollback_flags(policy: RollbackPolicy, major: int) -> list[str]:
    """The ``helm rollback`` flags of a rollback policy, spelled for helm ``major``."""
    return [
        *["--timeout", go_duration(policy.timeout)],
        *_switch(policy.wait, "--wait"),
        *_switch(policy.force, *FLAGS[major]["force"]),
        *_switch(policy.recreate, *FLAGS[major]["recreate"]),
        *_switch(policy.disable_hooks, "--no-hooks"),
    ]


def rollback_unsupported(policy: RollbackPolicy, major: int) -> tuple[str, ...]:
    """The rollback options helm ``major`` cannot honour (said in the status, never
    silently dropped)."""
    if policy.recreate and not FLAGS[major]["recreate"]:
        return (f"rollback.recreate: helm {major} cannot recreate Pods on rollback",)
    return ()


def _switch(enabled: bool, *flags: str) -> list[str]:
    return list(flags) if enabled else []


def _labels_args(labels: Mapping[str, str]) -> list[str]:
    if not labels:
        return []
    return ["--labels", ",".join(f"{key}={value}" for key, value in sorted(labels.items()))]


def values_document(values: Mapping[str, Any]) -> bytes:
    """The values as helm reads them from its standard input: JSON, a YAML document.

    In ASCII, with each character beyond the Basic Multilingual Plane written as YAML's
    8-digit ``\\U`` escape: helm's YAML reader refuses the surrogate pairs JSON writes
    for them. (JSON's other escapes are YAML's too.) The values were digested as JSON
    already, so they can be written as JSON. Values with a key too long for YAML's
    implicit keys are written as YAML (slower, and rare).
    """
    text = json.dumps(values, separators=(",", ":"), allow_nan=False, default=_as_dict)
    if len(text) > YAML_KEY_LIMIT and _long_key(values):
        # YAML reads no key longer than this in JSON's form: YAML's own spells it out
        content = yaml.safe_dump(_plain(values), default_flow_style=False, sort_keys=False)
        return content.encode("ascii")
    if "\\ud" in text:
        text = _ESCAPE.sub(_astral_escape, text)
    return text.encode("ascii")


YAML_KEY_LIMIT = 1024
"""Characters a YAML reader scans for the ``:`` after an implicit key (helm's as
PyYAML's): a longer key needs YAML's explicit form."""


def _long_key(values: Any) -> bool:
    """Whether some key of the values may reach ``YAML_KEY_LIMIT`` once escaped (six
    characters per character at most, with its quotes)."""
    pending = [values]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            if any(6 * len(str(key)) + 2 >= YAML_KEY_LIMIT for key in node):
                return True
            pending.extend(node.values())
        elif isinstance(node, list | tuple):
            pending.extend(node)
    return False


_ESCAPE = re.compile(r"\\(?:u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|.)")
"""One escape of JSON's, taken from the left so that an escaped backslash is never read as
the start of another; a surrogate pair is caught with its two halves."""


def _as_dict(value: Any) -> dict[Any, Any]:
    """What JSON writes a read-only mapping as."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a value")


def _astral_escape(match: re.Match[str]) -> str:
    high, low = match.group(1), match.group(2)
    if high is None:
        return match.group(0)
    code = 0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00)
    return f"\\U{code:08x}"


def _new_renderers_file(home: Path, renderers: Sequence[Mapping[str, Any]]) -> Path:
    """Write the post-renderers as JSON to a new file only we can read, in a new directory
    only we can enter (runs in a thread); nothing is left behind when writing fails. The
    path of the file."""
    directory = Path(tempfile.mkdtemp(prefix="render-", dir=home))
    path = directory / RENDERERS_FILE
    try:
        _write_private(path, json.dumps(_plain(renderers)))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return path


def _write_private(path: Path, content: str) -> None:
    """A new file only we can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)


def _install_post_renderer(home: Path, major: int) -> tuple[str, ...]:
    """The post-render program's command; for helm 4 its plugin written in the private
    home's plugins directory (runs in a thread).

    helm 4 splits the plugin's command at spaces and expands ``$VARIABLES`` in it and in
    its args (not in ``--post-renderer-args``): the program's path must have neither.
    """
    program = post_render_program()
    if major == 4:
        directory = home / PLUGINS_DIR / PLUGIN_NAME
        directory.mkdir(parents=True, exist_ok=True)
        command = {"command": program[0], "args": [*program[1:], POST_RENDER_COMMAND]}
        plugin = {
            "apiVersion": "v1",
            "name": PLUGIN_NAME,
            "type": "postrenderer/v1",
            "runtime": "subprocess",
            "version": PLUGIN_VERSION,
            "runtimeConfig": {"platformCommand": [command]},
        }
        (directory / "plugin.yaml").write_text(yaml.safe_dump(plugin), encoding="utf-8")
    return program


def _read_error_line(path: Path) -> str:
    """The post-render program's error line, or "" (runs in a thread)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as file:
            return file.read(ERROR_LIMIT * 4).strip()
    except OSError:
        return ""


async def _remove_renderers_file(written: asyncio.Future[Path]) -> None:
    """Remove the post-renderers file ``written`` makes once it is made (if it is)."""
    try:
        path = await written
    except Exception:  # a failed write leaves nothing behind
        return
    await asyncio.to_thread(shutil.rmtree, path.parent, True)


def _plain(value: Any) -> Any:
    """Values with read-only mappings and tuples turned into what YAML can represent."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


HOME_PREFIX = "helm-"
HOME_LOCK = ".operator.lock"
"""In each private helm home: locked (flock) by the operator that owns it as long as it
lives, so that a home whose lock can be taken belongs to an operator that is gone."""


def _private_home(work_dir: Path | None) -> tuple[Path, int]:
    """A new private helm home (0700) and the descriptor holding its lock."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=HOME_PREFIX, dir=work_dir))
    descriptor = os.open(home / HOME_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return home, descriptor


def remove_stale_homes(work_dir: Path | None) -> int:
    """Remove the private helm homes of operators that are gone (a SIGKILL leaves values
    files behind, which may hold secrets); a home still locked by a live operator, or
    without our lock file (not ours), is left alone. How many were removed (blocking)."""
    parent = Path(tempfile.gettempdir()) if work_dir is None else work_dir
    removed = 0
    for home in parent.glob(f"{HOME_PREFIX}*"):
        try:
            descriptor = os.open(home / HOME_LOCK, os.O_RDWR)
        except OSError:
            continue  # not a home of ours (or not a directory)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live operator's
        finally:
            os.close(descriptor)  # the lock, if taken, goes with it: the home goes next
        shutil.rmtree(home, ignore_errors=True)
        removed += 1
    return removed


def _strings(values: Any) -> list[str]:
    """Every string (keys excluded) anywhere in the values, for redaction."""
    if isinstance(values, str):
        return [values]
    if isinstance(values, Mapping):
        return [text for item in values.values() for text in _strings(item)]
    if isinstance(values, list | tuple):
        return [text for item in values for text in _strings(item)]
    return []


def scrub(message: str, secrets: Iterable[str]) -> str:
    """Replace every secret of 4+ characters by ``[redacted]``.

    Also its JSON-escaped form, and each line of a multi-line secret on its own (helm
    may quote a value across lines, re-indented).
    """
    forms = {form for text in secrets for form in _secret_forms(text)}
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= MIN_REDACTED_LENGTH:
            message = message.replace(form, REDACTED)
    return message


def _secret_forms(text: str) -> set[str]:
    forms = {text, json.dumps(text)[1:-1]}
    lines = text.splitlines()
    if len(lines) > 1:
        forms.update(line.strip() for line in lines)
    return forms


def helm_error(stderr: str, secrets: Iterable[str]) -> str:
    """The last ``Error:`` paragraph of helm's stderr as one line (else its last line).

    Scrubbed before it is cut to one line and ERROR_LIMIT characters: a secret split
    across lines, or straddling the cut, would no longer match as a whole.
    """
    lines = scrub(stderr, secrets).splitlines()
    starts = [index for index, line in enumerate(lines) if line.startswith("Error:")]
    if starts:
        paragraph: list[str] = []
        for line in lines[starts[-1] :]:
            if not line.strip():
                break  # helm follows its error with a blank line and hints
            paragraph.append(line.strip())
        text = " ".join(paragraph)
    else:
        text = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return text[:ERROR_LIMIT]


def _result(command: str, done: _Exit, secrets: Iterable[str], failure: str = "") -> HelmResult:
    """What ``done`` means; ``failure``: the post-render program's error line, which is the
    error when there is one (helm 4 would only say that its plugin failed)."""
    ok = done.exit_code == 0
    if ok:
        error = ""
    elif done.timed_out:
        error = f"helm {command} did not finish in time and was stopped"
    else:
        stderr = f"Error: {failure}" if failure else done.stderr.decode(errors="replace")
        error = helm_error(stderr, secrets)
        error = error or f"helm {command} exited with code {done.exit_code}"
    return HelmResult(
        command=command,
        ok=ok,
        exit_code=done.exit_code,
        timed_out=done.timed_out,
        duration=done.duration,
        error=error,
    )


async def _no_output() -> bytes:
    return b""


async def read_capped(stream: asyncio.StreamReader, limit: int, *, keep_tail: bool) -> bytes:
    """Read to EOF keeping ``limit`` bytes (the first or the last); the rest is drained."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if keep_tail:
            kept += chunk
            del kept[: max(0, len(kept) - limit)]
        else:
            kept += chunk[: max(0, limit - len(kept))]
    return bytes(kept)


def _signal_group(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    # The child is not reaped yet (returncode None), so its pid still names its group.
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


async def _complete(cleanup: Awaitable[None]) -> None:
    """Await a cleanup to its end even if the awaiting task is cancelled again meanwhile."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


async def _cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
