"""Problems a person can fix stop the start with one line naming them, and exit code 2.

Covers, checked in the process (``controller.startup``): a kubeconfig that is missing,
unreadable, not YAML, not a kubeconfig, or names no usable context, cluster or server;
in-cluster credentials that cannot be read; an API server that refuses the connection,
does not resolve, fails the TLS handshake, presents an untrusted certificate or does not
answer in time; a server serving none, one or all of the HelmRelease APIs; a listen
port in use. Then the operator process itself, which must exit by itself with code 2,
exactly one error line naming the cause and no traceback: no kubeconfig file, a garbage
file, a closed port, a server without CRDs, a busy listen port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from apiserver import ApiServer
from controller import api
from controller.http import ListenError, make_app, serve
from controller.settings import KubeSettings
from controller.startup import StartupError, check_kubeconfig, preflight
from testkit import OperatorProcess

EXIT_LIMIT = 60.0
"""Seconds the operator may take to give up and exit: only bounds a failure."""
ERROR_LINE = re.compile(r"\bERROR\b|\"level\":\"error\"")


@dataclass(frozen=True)
class Api:
    group: str
    version: str


HELM_V1 = Api("helm.fluxcd.io", "v1")
WEAVE_V1BETA1 = Api("flux.weave.works", "v1beta1")
NOT_INSTALLED = Api("example.com", "v9")


def kubeconfig_text(
    server: str = "http://127.0.0.1:1",
    *,
    current: str | None = "here",
    context: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
) -> str:
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server} if cluster is None else cluster}
        ],
        "users": [{"name": "me", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {
                "name": "here",
                "context": {"cluster": "local", "user": "me"} if context is None else context,
            }
        ],
    }
    if current is not None:
        config["current-context"] = current
    return yaml.safe_dump(config)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def settings_for(path: Path | None, **overrides: Any) -> KubeSettings:
    return KubeSettings(kubeconfig=None if path is None else str(path), **overrides)


# --- the kubeconfig -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "does not exist: give the path of a kubeconfig file"),
        ("{{{ not: yaml: [", "is not valid YAML at line 1, column 14: expected ','"),
        ("", "is empty"),
        ("just a string", "is not a kubeconfig"),
        ("- a\n- list\n", "is not a kubeconfig"),
        (kubeconfig_text(current=None), "names no current context (its contexts: here): set"),
        (kubeconfig_text(current="there"), "has no context 'there' (its current-context)"),
        (kubeconfig_text(context={"user": "me"}), "context 'here' of kubeconfig"),
        (
            kubeconfig_text(context={"cluster": "far", "user": "me"}),
            "context 'here' names cluster 'far', which kubeconfig",
        ),
        (
            kubeconfig_text(cluster={"insecure-skip-tls-verify": True}),
            "cluster 'local' of kubeconfig",
        ),
    ],
)
def test_a_kubeconfig_that_cannot_work_is_named(
    tmp_path: Path, text: str | None, problem: str
) -> None:
    path = tmp_path / "kubeconfig"
    if text is not None:
        write(path, text)
    with pytest.raises(StartupError) as error:
        check_kubeconfig(settings_for(path), {})
    assert str(path) in str(error.value)
    assert problem in str(error.value)
    assert "not-a-secret" not in str(error.value)


def test_a_yaml_error_never_quotes_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "kubeconfig", "users:\n- token: hunter2\n  : broken: [\n")
    with pytest.raises(StartupError, match="is not valid YAML at line") as error:
        check_kubeconfig(settings_for(path), {})
    assert "hunter2" not in str(error.value)


def test_a_directory_is_not_a_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="is a directory"):
        check_kubeconfig(settings_for(tmp_path), {})


UNREADABLE = "is not readable (permission denied)"
NOBODY = 65534


def test_an_unreadable_kubeconfig_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "kubeconfig", kubeconfig_text())
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(StartupError, match=re.escape(UNREADABLE)):
            check_kubeconfig(settings_for(path), {})
        return
    # root reads any file: the check runs in a forked child that gave up root
    assert UNREADABLE in as_nobody(lambda: check_kubeconfig(settings_for(path), {}))


def as_nobody(check: Callable[[], object]) -> str:
    """The StartupError message ``check`` raises when run by an unprivileged user."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                check()
                message = "no error"
            except StartupError as error:
                message = str(error)
            except Exception as error:
                message = f"unexpected {error!r}"
            os.write(writer, message.encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_the_context_flag_must_name_a_context(tmp_path: Path) -> None:
    path = write(tmp_path / "kubeconfig", kubeconfig_text())
    with pytest.raises(
        StartupError, match="has no context 'other' \\(--context\\) \\(its contexts: here\\)"
    ):
        check_kubeconfig(settings_for(path, context="other"), {})
    assert check_kubeconfig(settings_for(path, context="here"), {}).server.endswith("127.0.0.1:1")


def test_kubeconfig_variable_files_are_merged_and_missing_ones_skipped(tmp_path: Path) -> None:
    contexts = write(tmp_path / "a", kubeconfig_text(current="here"))
    missing = tmp_path / "missing"
    target = check_kubeconfig(
        settings_for(None), {"KUBECONFIG": f"{missing}{os.pathsep}{contexts}"}
    )
    assert target.server == "the API server at http://127.0.0.1:1"
    neither = {"KUBECONFIG": f"{missing}{os.pathsep}{tmp_path / 'b'}"}
    with pytest.raises(StartupError) as error:
        check_kubeconfig(settings_for(None), neither)
    assert str(error.value) == (
        f"kubeconfig {missing}, {tmp_path / 'b'} (KUBECONFIG) do not exist: fix KUBECONFIG, "
        "or pass --kubeconfig PATH"
    )


def test_the_default_kubeconfig_is_named_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(
        StartupError, match="\\(the default\\) does not exist: pass --kubeconfig PATH"
    ):
        check_kubeconfig(settings_for(None), {})


async def test_in_cluster_credentials_that_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client decides on in-cluster credentials from the process environment.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(
        StartupError, match=r"cannot use the in-cluster service account: .*: mount its token"
    ):
        await preflight(settings_for(None), [HELM_V1])


async def test_a_certificate_file_the_loader_cannot_find(tmp_path: Path) -> None:
    cluster = {"server": "https://127.0.0.1:1", "certificate-authority": str(tmp_path / "ca.crt")}
    path = write(tmp_path / "kubeconfig", kubeconfig_text(cluster=cluster))
    with pytest.raises(StartupError, match=f"cannot use kubeconfig {path}: .*ca.crt"):
        await preflight(settings_for(path), [HELM_V1])


# --- the API server -------------------------------------------------------------------------


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (held, so nobody can take it meanwhile)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield silent.getsockname()[1]


@asynccontextmanager
async def tls_server(ca: trustme.CA) -> AsyncIterator[int]:
    """A TLS server with a certificate of ``ca``; it answers nothing."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def problem_with(server: str, tmp_path: Path, *, request_timeout: float = 20.0) -> str:
    path = write(tmp_path / "kubeconfig", kubeconfig_text(server))
    with pytest.raises(StartupError) as error:
        await preflight(settings_for(path, request_timeout=request_timeout), [HELM_V1])
    return str(error.value)


async def test_a_refused_connection(tmp_path: Path) -> None:
    with closed_port() as port:
        problem = await problem_with(f"http://127.0.0.1:{port}", tmp_path)
    assert problem == (
        f"cannot reach the API server at http://127.0.0.1:{port}: connection refused: is the "
        f"API server running? (check the server address in kubeconfig {tmp_path / 'kubeconfig'})"
    )


async def test_a_host_that_does_not_resolve(tmp_path: Path) -> None:
    problem = await problem_with("https://no-such-host.invalid:6443", tmp_path)
    assert "https://no-such-host.invalid:6443: its host name does not resolve" in problem


async def test_a_server_that_does_not_answer_in_time(tmp_path: Path) -> None:
    with silent_port() as port:
        problem = await problem_with(f"http://127.0.0.1:{port}", tmp_path, request_timeout=0.5)
    assert f"http://127.0.0.1:{port} did not answer within 0.5s" in problem
    assert "--request-timeout" in problem


async def test_https_to_a_server_without_tls(apiserver: ApiServer, tmp_path: Path) -> None:
    server = apiserver.url.replace("http://", "https://")
    problem = await problem_with(server, tmp_path)
    assert f"cannot reach the API server at {server}: the TLS handshake failed" in problem


async def test_an_untrusted_certificate(tmp_path: Path) -> None:
    async with tls_server(trustme.CA()) as port:
        problem = await problem_with(f"https://127.0.0.1:{port}", tmp_path)
    assert "its TLS certificate is not trusted" in problem
    assert "check certificate-authority in kubeconfig" in problem


async def test_a_server_without_the_crds(kubeconfig: Path) -> None:
    with pytest.raises(StartupError) as error:
        await preflight(settings_for(kubeconfig), [HELM_V1, WEAVE_V1BETA1])
    assert str(error.value) == (
        "CRDs helmreleases.helm.fluxcd.io (version v1) and helmreleases.flux.weave.works "
        "(version v1beta1) are not installed: kubectl apply -f manifests/crds/"
    )


async def test_every_served_api_is_named_when_none_is_installed(kubeconfig: Path) -> None:
    with pytest.raises(StartupError) as error:
        await preflight(settings_for(kubeconfig), api.SERVED)
    for served in api.SERVED:
        assert f"helmreleases.{served.group} (version {served.version})" in str(error.value)


@pytest.mark.usefixtures("crds")
async def test_every_served_api_is_installed_by_the_manifests(kubeconfig: Path) -> None:
    client, served = await preflight(settings_for(kubeconfig), api.SERVED)
    await client.close()
    assert served == tuple(api.SERVED)


@pytest.mark.usefixtures("crds")
async def test_a_missing_api_is_a_warning_and_the_others_are_served(
    kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="controller.startup"):
        client, served = await preflight(settings_for(kubeconfig), [NOT_INSTALLED, HELM_V1])
    await client.close()
    assert served == (HELM_V1,)
    [warning] = caplog.records
    assert warning.getMessage().startswith(
        "CRD helmreleases.example.com (version v9) is not installed: HelmReleases of "
        "example.com/v9 are not watched"
    )


async def test_a_port_in_use_is_a_listen_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(ListenError) as error:
            async with serve(make_app(lambda: (True, "ok")), f"127.0.0.1:{port}"):
                pass
    assert str(error.value) == (
        f"cannot listen on 127.0.0.1:{port} (--listen): port {port} is already in use by "
        "another process: stop that process or choose another port"
    )


# --- the operator process -------------------------------------------------------------------


async def exit_of(operator: OperatorProcess) -> tuple[int, str]:
    """Launch the operator and wait, with a deadline, until it exits by itself."""
    operator.launch()
    try:
        async with asyncio.timeout(EXIT_LIMIT):
            code = await operator.exited()
    except TimeoutError:
        pytest.fail(f"the operator did not exit within {EXIT_LIMIT:g}s:\n{operator.log_tail()}")
    finally:
        await operator.end()
    return code, await operator.logs()


def the_error_line(output: str) -> str:
    """The one error line of the output (failing when there are none or several)."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if ERROR_LINE.search(line)]
    assert len(errors) == 1, output
    assert "cannot start: " in errors[0], output
    return errors[0]


async def test_the_operator_without_its_kubeconfig_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing-kubeconfig"
    code, output = await exit_of(OperatorProcess(tmp_path, kubeconfig=missing))
    assert code == 2, output
    line = the_error_line(output)
    assert f"kubeconfig {missing} (--kubeconfig) does not exist" in line


async def test_the_operator_with_a_garbage_kubeconfig(tmp_path: Path) -> None:
    garbage = write(tmp_path / "kubeconfig", "{{{ not: yaml: [")
    code, output = await exit_of(OperatorProcess(tmp_path, kubeconfig=garbage))
    assert code == 2, output
    assert f"kubeconfig {garbage} is not valid YAML" in the_error_line(output)


async def test_the_operator_with_a_closed_api_server_port(tmp_path: Path) -> None:
    with closed_port() as port:
        path = write(tmp_path / "kubeconfig", kubeconfig_text(f"http://127.0.0.1:{port}"))
        code, output = await exit_of(OperatorProcess(tmp_path, kubeconfig=path))
    assert code == 2, output
    assert f"http://127.0.0.1:{port}: connection refused" in the_error_line(output)


async def test_the_operator_on_a_server_without_crds(kubeconfig: Path, tmp_path: Path) -> None:
    code, output = await exit_of(OperatorProcess(tmp_path, kubeconfig=kubeconfig))
    assert code == 2, output
    line = the_error_line(output)
    assert "not installed: kubectl apply -f manifests/crds/" in line
    for served in api.SERVED:
        assert f"helmreleases.{served.group}" in line


@pytest.mark.usefixtures("crds")
async def test_the_operator_on_a_busy_listen_port(kubeconfig: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        operator = OperatorProcess(tmp_path, "--listen", f"127.0.0.1:{port}", kubeconfig=kubeconfig)
        code, output = await exit_of(operator)
    assert code == 2, output
    assert f"port {port} is already in use" in the_error_line(output)


async def test_helm_operator_args_are_noted_before_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing-kubeconfig"
    flags = ("--tiller-namespace=kube-system", "--enabled-helm-versions=v2,v3", "--log-format=json")
    code, output = await exit_of(OperatorProcess(tmp_path, *flags, kubeconfig=missing))
    assert code == 2, output
    the_error_line(output)
    warnings = [line for line in output.splitlines() if '"level":"warning"' in line]
    assert len(warnings) == 2, output
    assert "--tiller-namespace is ignored: Tiller (Helm 2) is not supported" in warnings[1]
    assert "--enabled-helm-versions=v2,v3: v2 is ignored" in warnings[0]
