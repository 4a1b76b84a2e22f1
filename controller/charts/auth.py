"""Credentials and TLS material of a chart repository, from a chartPullSecret.

``read_pull_secret`` reads the Secret a HelmRelease names (its namespace's).

``RepoAuth`` never shows the password or the private key in its repr/str. The
``ssl.SSLContext`` built from it always verifies the server: a custom CA is added to the
system trust store, a client certificate is presented when one is given.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.charts.errors import ChartError
from controller.kube.client import KubeClient, resource_path

_PEM_MARKER = b"-----BEGIN "


async def read_pull_secret(
    client: KubeClient, namespace: str, name: str, registry: str | None = None
) -> RepoAuth | ChartError:
    """The credentials in Secret ``namespace/name``; raises ApiError when it cannot be read.

    For an OCI ``registry`` (``host:port``), a ``kubernetes.io/dockerconfigjson`` Secret
    gives the username and password of its entry for that registry."""
    secret = await client.get(resource_path("", "v1", "secrets", namespace=namespace, name=name))
    if secret is None:
        return ChartError("Unauthorized", f"chart pull secret {name} not found", True)
    data = secret.get("data") or {}
    try:
        decoded = {key: base64.b64decode(value, validate=True) for key, value in data.items()}
    except (binascii.Error, TypeError, AttributeError):
        return ChartError("Unauthorized", f"chart pull secret {name} is malformed", False)
    docker_config = decoded.get(".dockerconfigjson")
    if docker_config is not None and registry is not None:
        found = registry_login(docker_config, registry)
        if found is None:
            return ChartError(
                "Unauthorized", f"chart pull secret {name} has no login for {registry}", False
            )
        decoded["username"], decoded["password"] = found
    return RepoAuth.from_secret_data(decoded)


def registry_login(docker_config: bytes, registry: str) -> tuple[bytes, bytes] | None:
    """(username, password) of ``registry`` in a docker config.json (``auths``: by host,
    with or without a scheme; ``username``/``password`` or ``auth``, base64 of both)."""
    try:
        auths = json.loads(docker_config).get("auths") or {}
    except (ValueError, AttributeError):
        return None
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        host = str(key).split("://", 1)[-1].split("/", 1)[0]
        if host != registry or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return entry["username"].encode(), entry["password"].encode()
        try:
            user, _, password = base64.b64decode(
                str(entry.get("auth", "")), validate=True
            ).partition(b":")
        except binascii.Error:
            return None
        return (user, password) if user else None
    return None


@dataclass(frozen=True, repr=False)
class RepoAuth:
    username: str | None = None
    password: str | None = None
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None

    @classmethod
    def from_secret_data(cls, data: Mapping[str, bytes]) -> RepoAuth | ChartError:
        """Credentials from the (base64-decoded) data of a chart pull secret: keys
        ``username``/``password`` (basic auth, both or neither), ``caFile`` (PEM CA bundle),
        ``certFile``/``keyFile`` (PEM client certificate and key, both or neither)."""
        username, password = data.get("username"), data.get("password")
        if (username is None) != (password is None):
            return _invalid_secret("needs both username and password, or neither")
        cert, key = data.get("certFile"), data.get("keyFile")
        if (cert is None) != (key is None):
            return _invalid_secret("needs both certFile and keyFile, or neither")
        for name in ("caFile", "certFile", "keyFile"):
            value = data.get(name)
            if value is not None and _PEM_MARKER not in value:
                return _invalid_secret(f"{name} is not PEM data")
        try:
            user_text = username.decode() if username is not None else None
            password_text = password.decode() if password is not None else None
        except UnicodeDecodeError:
            return _invalid_secret("username and password must be UTF-8 text")
        return cls(user_text, password_text, data.get("caFile"), cert, key)

    @property
    def has_tls(self) -> bool:
        return self.ca_pem is not None or self.cert_pem is not None

    def __repr__(self) -> str:
        return (
            f"RepoAuth(username={self.username!r}, password={_hidden(self.password)}, "
            f"ca_pem={_hidden(self.ca_pem)}, cert_pem={_hidden(self.cert_pem)}, "
            f"key_pem={_hidden(self.key_pem)})"
        )

    __str__ = __repr__


def _hidden(value: object) -> str:
    return "None" if value is None else "<hidden>"


def _invalid_secret(problem: str) -> ChartError:
    return ChartError("Unauthorized", f"invalid chart pull secret: {problem}", retryable=False)


def build_ssl_context(auth: RepoAuth) -> ssl.SSLContext | ChartError:
    """A verifying client TLS context for ``auth`` (blocking: run it in a thread).

    The ssl module loads a client certificate only from files, so the certificate and key
    go to a private temporary directory (0o700) that is removed before returning.
    """
    context = ssl.create_default_context()
    try:
        if auth.ca_pem is not None:
            context.load_verify_locations(cadata=auth.ca_pem.decode("ascii", "replace"))
        if auth.cert_pem is not None and auth.key_pem is not None:
            with tempfile.TemporaryDirectory(prefix="repo-tls-") as directory:
                os.chmod(directory, 0o700)
                cert_file = _write_private(Path(directory) / "tls.crt", auth.cert_pem)
                key_file = _write_private(Path(directory) / "tls.key", auth.key_pem)
                context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, ValueError) as error:
        # The ssl message names the failing step, never the material itself.
        return ChartError(
            "Unauthorized",
            f"invalid TLS material in chart pull secret: {error.__class__.__name__}: {error}",
            retryable=False,
        )
    return context


def _write_private(path: Path, data: bytes) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return path
