"""Credentials of a git chart source, from its ``chart.secretRef``, and the private git
home each set of credentials gets.

The Secret (in the HelmRelease's namespace) holds, for https, ``username`` and
``password`` (a token is a password), as helm-operator read them; for ssh, ``identity``
(a private key) and ``known_hosts`` (the server's keys: without them no ssh host is
trusted). Credentials never reach a command line, an environment variable or a log:
they are written, mode 0600, into a private home (mode 0700) that git is pointed at,
where git's ``store`` credential helper (https) or ``core.sshCommand`` (ssh) reads them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from controller.charts.errors import ChartError
from controller.kube.client import KubeClient, resource_path


@dataclass(frozen=True, repr=False)
class GitAuth:
    username: str | None = None
    password: str | None = None
    identity: bytes | None = None
    known_hosts: bytes | None = None

    def fingerprint(self) -> str:
        """A digest of the credentials: mirrors are shared only by the same ones."""
        parts = (self.username or "", self.password or "", self.identity, self.known_hosts)
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    def __repr__(self) -> str:
        return f"GitAuth(username={self.username!r}, secrets hidden)"


async def read_git_secret(client: KubeClient, namespace: str, name: str) -> GitAuth | ChartError:
    """The credentials in Secret ``namespace/name``; raises ApiError when it cannot be read."""
    secret = await client.get(resource_path("", "v1", "secrets", namespace=namespace, name=name))
    if secret is None:
        return ChartError("Unauthorized", f"git secret {name} not found", True)
    try:
        data = {
            key: base64.b64decode(value, validate=True)
            for key, value in (secret.get("data") or {}).items()
        }
        username, password = data.get("username"), data.get("password")
        if (username is None) != (password is None):
            return ChartError(
                "Unauthorized", f"git secret {name} needs username and password", False
            )
        return GitAuth(
            username=username.decode() if username is not None else None,
            password=password.decode() if password is not None else None,
            identity=data.get("identity"),
            known_hosts=data.get("known_hosts"),
        )
    except (binascii.Error, TypeError, AttributeError, UnicodeDecodeError):
        return ChartError("Unauthorized", f"git secret {name} is malformed", False)


def write_home(home: Path, url: str, auth: GitAuth | None) -> None:
    """A private git home for ``url`` with ``auth`` (blocking): its gitconfig, and the
    credentials where git reads them. Nothing of the user's or the system's config is read
    (git runs with GIT_CONFIG_NOSYSTEM and this HOME)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    ssh += ["-o", f"UserKnownHostsFile={home / 'known_hosts'}"]
    _private(home / "known_hosts", auth.known_hosts if auth and auth.known_hosts else b"")
    if auth is not None and auth.identity is not None:
        _private(home / "identity", auth.identity.rstrip(b"\n") + b"\n")
        ssh += ["-o", "IdentitiesOnly=yes", "-i", str(home / "identity")]
    # only the transports a chart source names: never file://, ext:: or the like
    config = ["[protocol]", "\tallow = never"]
    for scheme in ("https", "http", "ssh"):
        config += [f'[protocol "{scheme}"]', "\tallow = always"]
    config += ["[core]", "\taskPass = /bin/false", f"\tsshCommand = {_quoted_command(ssh)}"]
    if auth is not None and auth.username is not None and auth.password is not None:
        parts = urlsplit(url)
        user, password = quote(auth.username, safe=""), quote(auth.password, safe="")
        _private(
            home / ".git-credentials",
            f"{parts.scheme}://{user}:{password}@{parts.netloc}\n".encode(),
        )
        config += ["[credential]", "\thelper = store"]  # reads ~/.git-credentials
    _private(home / ".gitconfig", ("\n".join(config) + "\n").encode())


def _private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)


def _quoted_command(argv: list[str]) -> str:
    return '"' + shlex.join(argv).replace("\\", "\\\\").replace('"', '\\"') + '"'
