"""What the actions that run helm or rewrite a release record work with."""

from __future__ import annotations

from dataclasses import dataclass

from controller.api import ReleaseSpec, SpecError
from controller.helm import HelmResult, HelmRunner, service_account_user
from controller.keys import ReleaseKey
from controller.kube.client import KubeClient
from controller.releases import ObservedRelease, ReleaseIndex


@dataclass(frozen=True)
class ActionContext:
    client: KubeClient
    runner: HelmRunner
    release: ReleaseKey
    """The release acted on (for an uninstall of a moved release: the old one)."""
    timeout: float
    """helm's --timeout, in seconds."""
    observed: ObservedRelease | None
    """The release record as just read (unlock acts on exactly this revision)."""
    index: ReleaseIndex
    """The watched release records, from which the outcome of helm may be taken."""
    log_diffs: bool = False
    """Log which value paths an upgrade changes (``--log-release-diffs``; never values)."""
    as_user: str | None = None
    """The identity helm and the drift check act as (a ServiceAccount's user name), or
    None: the operator's own."""


def impersonated(namespace: str, spec: ReleaseSpec | SpecError, default: str | None) -> str | None:
    """The user helm acts as: the HelmRelease's ServiceAccount (``spec``), else the
    operator's ``--default-service-account`` in the HelmRelease's namespace, else None (the
    operator's own identity)."""
    account = spec.service_account_name if isinstance(spec, ReleaseSpec) else None
    chosen = account or default
    return None if chosen is None else service_account_user(namespace, chosen)


TRANSIENT_ERRORS = (
    "kubernetes cluster unreachable",
    "connection refused",
    "connection reset by peer",
    "i/o timeout",
    "tls handshake timeout",
    "no such host",
    "unexpected eof",
    "http2: client connection lost",
    "the server is currently unable to handle the request",
    "the server was unable to return a response in the time allotted",
    "too many requests",
    "etcdserver: request timed out",
)
"""helm's words (lower case) for an API server it could not reach or that could not answer."""


def transient(result: HelmResult) -> bool:
    """Whether helm failed because the API server could not be reached or could not answer,
    rather than because of what it was asked to do: such a failure is retried with backoff
    (when it left no revision behind), not remembered as a failure of the spec."""
    error = result.error.lower()
    return not result.ok and any(words in error for words in TRANSIENT_ERRORS)


REJECTIONS = (
    " is invalid: ",
    "cannot be handled as a",
    "failed to create typed patch object",
    "strict decoding error",
    "denied the request",
)
"""The API server's words (422 Invalid, 400 decoding errors, admission webhooks) when it
refuses an object helm sends."""


def rejected(result: HelmResult) -> bool:
    """Whether the API server refused an object of the release as invalid: the object was
    not changed, so there is nothing to roll back."""
    return not result.ok and any(words in result.error for words in REJECTIONS)


def helm_failure(result: HelmResult, timeout: float) -> str:
    """Why a helm process failed, in one line (its error is already free of values)."""
    if result.timed_out:
        return f"helm did not finish within its {timeout:g}s timeout and was stopped"
    return result.error or f"helm exited with code {result.exit_code}"
