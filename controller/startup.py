"""What is checked before the operator starts working, and how a problem with it is told.

A problem a person has to fix before the operator can work (a kubeconfig that is missing,
unreadable or says nothing usable, an API server that cannot be reached, no HelmRelease
CRD installed, a listen address that cannot be listened on) is a ``StartupError``: one
line naming what is wrong and what to do. The process logs it and exits 2, without a
traceback.

``preflight`` reads the kubeconfig (or the in-cluster service account), connects, and
asks the API server's discovery which of our HelmRelease APIs it serves, within the
request timeout: none is fatal, some is a warning naming the missing ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp
import yaml
from kubernetes_asyncio.config.config_exception import ConfigException

from controller import api
from controller.kube.client import ApiError, KubeClient, NotFound, Unreachable
from controller.settings import KubeSettings

log = logging.getLogger(__name__)

INSTALL_CRDS = "kubectl apply -f manifests/crds/"
MAX_DETAIL = 300
"""Longest piece of a library's message quoted in a startup error."""
MAX_NAMES = 5
"""Most names (of contexts, say) listed in a startup error."""


class StartupError(Exception):
    """A problem with the configuration or environment, reported without a traceback."""


class ApiVersion(Protocol):
    """A HelmRelease API version we can serve (``controller.api.SERVED`` lists them)."""

    @property
    def group(self) -> str: ...

    @property
    def version(self) -> str: ...


Api = TypeVar("Api", bound=ApiVersion)


async def preflight(
    settings: KubeSettings, apis: Sequence[Api], environ: Mapping[str, str] = os.environ
) -> tuple[KubeClient, tuple[Api, ...]]:
    """A client of the API server, and those of ``apis`` it serves (at least one).

    Raises ``StartupError``; the caller closes the client.
    """
    target = await asyncio.to_thread(check_kubeconfig, settings, environ)
    client = await connect(settings, target)
    try:
        served = await served_apis(client, apis, target, settings.request_timeout)
    except BaseException:
        await client.close()
        raise
    return client, served


# --- the kubeconfig -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the client will connect, as a person would name it in a message."""

    server: str
    """``the API server at URL``."""
    source: str
    """Where the connection details come from: ``kubeconfig PATH`` or the service account."""


def check_kubeconfig(settings: KubeSettings, environ: Mapping[str, str] = os.environ) -> Target:
    """Check the kubeconfig the client will load (found as the client finds it: --kubeconfig,
    else KUBECONFIG, else ~/.kube/config; in-cluster credentials when none is given in a
    pod) names a context, a cluster and a server; raises ``StartupError`` naming what is
    missing. Blocking: it reads files."""
    if settings.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in environ:
        host = environ["KUBERNETES_SERVICE_HOST"]
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        return Target(f"the API server at https://{host}:{port}", "the in-cluster service account")
    if settings.kubeconfig is not None:
        text, origin = settings.kubeconfig, "--kubeconfig"
    elif environ.get("KUBECONFIG"):
        text, origin = environ["KUBECONFIG"], "KUBECONFIG"
    else:
        text, origin = "~/.kube/config", "the default"
    paths = [Path(part).expanduser() for part in text.split(os.pathsep) if part]
    existing = [path for path in paths if _present(path)]
    if not existing:
        names = ", ".join(str(path) for path in paths) or repr(text)
        what = "does not exist" if len(paths) < 2 else "do not exist"
        hint = {
            "--kubeconfig": "give the path of a kubeconfig file",
            "KUBECONFIG": "fix KUBECONFIG, or pass --kubeconfig PATH",
        }.get(origin, "pass --kubeconfig PATH")
        raise StartupError(f"kubeconfig {names} ({origin}) {what}: {hint}")
    documents = [(path, _read_kubeconfig(path)) for path in existing]
    where = f"kubeconfig {', '.join(str(path) for path, _ in documents)}"
    return Target(_server(documents, settings.context, where), where)


def _present(path: Path) -> bool:
    """Whether ``path`` names a file; one we may not even look at counts (reading it then
    says why it cannot be used)."""
    try:
        return path.exists()
    except OSError:
        return True


def _read_kubeconfig(path: Path) -> Mapping[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StartupError(f"kubeconfig {path} {_unreadable(error)}") from None
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as error:
        raise StartupError(f"kubeconfig {path} {_not_yaml(error)}") from None
    if isinstance(document, Mapping):
        return document
    if document is None:
        raise StartupError(
            f"kubeconfig {path} is empty: give a kubeconfig naming a cluster, a user and a context"
        )
    raise StartupError(
        f"kubeconfig {path} is not a kubeconfig (a YAML mapping of clusters, users and contexts)"
    )


def _unreadable(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "is not readable (permission denied): check its owner and mode"
    if isinstance(error, IsADirectoryError):
        return "is a directory: give the path of a kubeconfig file"
    return f"cannot be read: {error.strerror or error}"


def _not_yaml(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        # The problem and its position only: the context may quote a credential.
        mark = error.problem_mark
        at = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        return f"is not valid YAML{at}: {error.problem or error.context}"
    return f"is not valid YAML: {type(error).__name__}"


def _server(
    documents: Sequence[tuple[Path, Mapping[str, Any]]], context: str | None, where: str
) -> str:
    """The server the context names, the files merged as kubectl merges them (first wins)."""
    contexts = _named(documents, "contexts", "context")
    clusters = _named(documents, "clusters", "cluster")
    current = next(
        (str(doc["current-context"]) for _, doc in documents if doc.get("current-context")), None
    )
    name = context or current
    if name is None:
        raise StartupError(
            f"{where} names no current context{_listing('contexts', contexts)}: set "
            "current-context in it, or pass --context NAME"
        )
    origin = " (--context)" if context else " (its current-context)"
    if name not in contexts:
        raise StartupError(
            f"{where} has no context {name!r}{origin}{_listing('contexts', contexts)}: "
            "name one it has"
        )
    cluster = contexts[name].get("cluster")
    if not cluster:
        raise StartupError(f"context {name!r} of {where} names no cluster: add one to it")
    if cluster not in clusters:
        raise StartupError(
            f"context {name!r} names cluster {cluster!r}, which {where} does not define"
        )
    server = clusters[cluster].get("server")
    if not server:
        raise StartupError(f"cluster {cluster!r} of {where} has no server address: add server: URL")
    return f"the API server at {server}"


def _named(
    documents: Sequence[tuple[Path, Mapping[str, Any]]], key: str, inner: str
) -> dict[str, Mapping[str, Any]]:
    """``name -> body`` of a kubeconfig list (``contexts``, ``clusters``); malformed entries
    are left out, and the first file naming an entry wins."""
    named: dict[str, Mapping[str, Any]] = {}
    for _, document in documents:
        entries = document.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get(inner), Mapping):
                named.setdefault(str(entry.get("name")), entry[inner])
    return named


def _listing(what: str, named: Mapping[str, Any]) -> str:
    if not named:
        return f" (it has no {what})"
    names = sorted(named)
    more = f", ... {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
    return f" (its {what}: {', '.join(names[:MAX_NAMES])}{more})"


async def connect(settings: KubeSettings, target: Target) -> KubeClient:
    """The client; what the kubeconfig loader refuses (a missing certificate file, an exec
    plugin that fails, ...) becomes a ``StartupError``."""
    try:
        return await KubeClient.create(settings)
    except ConfigException as error:
        problem = _cut(str(error)).rstrip(".")
    except ssl.SSLError as error:
        problem = f"its TLS certificate or key cannot be used: {error.reason or error}"
    except OSError as error:
        named = f": {error.filename}" if error.filename else ""
        problem = f"{error.strerror or error}{named}"
    except Exception as error:
        log.debug("loading the client configuration failed", exc_info=True)
        problem = f"{type(error).__name__}: {_cut(str(error))}".rstrip(": ")
    if target.source.startswith("the in-cluster"):
        raise StartupError(
            f"cannot use {target.source}: {problem}: mount its token, or pass --kubeconfig PATH"
        )
    raise StartupError(f"cannot use {target.source}: {problem}")


# --- the API server -------------------------------------------------------------------------


async def served_apis(
    client: KubeClient, apis: Sequence[Api], target: Target, within: float
) -> tuple[Api, ...]:
    """Those of ``apis`` the server serves, asked of its discovery within ``within`` s;
    a ``StartupError`` when it serves none or cannot be asked."""
    try:
        async with asyncio.timeout(within):
            found = [await _serves(client, served, target, within) for served in apis]
    except TimeoutError:
        raise StartupError(_timed_out(target, within)) from None
    served = tuple(candidate for candidate, yes in zip(apis, found, strict=True) if yes)
    missing = [candidate for candidate, yes in zip(apis, found, strict=True) if not yes]
    if not served:
        crds = " and ".join(_crd(candidate) for candidate in missing)
        kind = "CRD" if len(missing) == 1 else "CRDs"
        verb = "is" if len(missing) == 1 else "are"
        raise StartupError(f"{kind} {crds} {verb} not installed: {INSTALL_CRDS}")
    for candidate in missing:
        log.warning(
            "CRD %s is not installed: HelmReleases of %s/%s are not watched until it is "
            "(%s) and the operator restarts",
            _crd(candidate),
            candidate.group,
            candidate.version,
            INSTALL_CRDS,
        )
    return served


async def _serves(client: KubeClient, served: ApiVersion, target: Target, within: float) -> bool:
    """Whether the server's discovery of the API's group version lists HelmReleases."""
    try:
        discovery = await client.request(
            "GET", f"/apis/{served.group}/{served.version}", timeout=within
        )
    except NotFound:
        return False
    except Unreachable as error:
        raise StartupError(unreachable(target, error, within)) from None
    except ApiError as error:
        raise StartupError(_refused(target, error)) from None
    resources = discovery.get("resources")
    return any(
        isinstance(resource, Mapping) and resource.get("name") == api.PLURAL
        for resource in (resources if isinstance(resources, list) else [])
    )


def unreachable(target: Target, error: Unreachable, timeout: float) -> str:
    """Why the API server could not be reached, and what to check, in one line."""
    cause = error.__cause__
    fix = f"check the server address in {target.source}"
    if isinstance(cause, aiohttp.ClientConnectorCertificateError):
        reason = getattr(cause.certificate_error, "verify_message", None) or "not trusted"
        return (
            f"cannot reach {target.server}: its TLS certificate is not trusted ({reason}): "
            f"check certificate-authority in {target.source}"
        )
    if isinstance(cause, (aiohttp.ClientSSLError, ssl.SSLError)):
        return (
            f"cannot reach {target.server}: the TLS handshake failed ({_ssl_reason(cause)}): {fix}"
        )
    if isinstance(cause, aiohttp.ClientConnectorDNSError) or (
        isinstance(cause, aiohttp.ClientConnectorError)
        and isinstance(cause.os_error, socket.gaierror)
    ):
        return f"cannot reach {target.server}: its host name does not resolve: {fix}"
    if isinstance(cause, aiohttp.ClientConnectorError):
        if isinstance(cause.os_error, ConnectionRefusedError):
            return (
                f"cannot reach {target.server}: connection refused: is the API server "
                f"running? ({fix})"
            )
        if isinstance(cause.os_error, TimeoutError):
            return _timed_out(target, timeout)
        return f"cannot reach {target.server}: {cause.os_error.strerror or cause.os_error}: {fix}"
    if error.reason == "Timeout" or isinstance(cause, TimeoutError):
        return _timed_out(target, timeout)
    return f"cannot reach {target.server}: {error.reason}: {_cut(error.message)}: {fix}"


def _ssl_reason(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientSSLError):
        error = error.os_error
    return str(getattr(error, "reason", None) or type(error).__name__)


def _timed_out(target: Target, timeout: float) -> str:
    return (
        f"{target.server} did not answer within {timeout:g}s: check the server address in "
        f"{target.source} and the network to it (or raise --request-timeout)"
    )


def _refused(target: Target, error: ApiError) -> str:
    if error.status == 401:
        return (
            f"{target.server} does not accept our credentials (401 Unauthorized): check the "
            f"user of {target.source}"
        )
    if error.status == 403:
        return f"{target.server} forbids API discovery to our user (403 Forbidden): {error.message}"
    return f"{target.server} answered {error.status} {error.reason}: {_cut(error.message)}"


def _crd(served: ApiVersion) -> str:
    return f"{api.PLURAL}.{served.group} (version {served.version})"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."
