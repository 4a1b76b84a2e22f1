"""An OCI registry on loopback, Debian's ``docker-registry`` (the CNCF distribution
registry), and ``push_chart`` that pushes a packaged chart to it with the real helm.

OCI chart sources pull from a real registry, so the registry is the real one, as a child
process with a configuration of its own: filesystem storage under its root, a loopback
port it picks itself (read back from its log: no port is guessed), htpasswd basic auth
(a bcrypt hash) when given credentials, TLS with a certificate from a trustme CA when
given one (helm 3 speaks plain HTTP to any loopback registry: over TLS, only helm 4
pushes and pulls). It is optional: ``registry_available`` says why it cannot run, for a
test to skip with that reason rather than pass.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import ssl
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import bcrypt
import trustme
import yaml

from testkit.process import ChildProcess
from testkit.tools import helm_bin, run, tool_env
from testkit.waiting import Unmet, wait_for

BINARY = "docker-registry"
MISSING = f"the {BINARY} binary is not installed (make test installs the Debian package)"
BCRYPT_ROUNDS = 4
"""The registry checks the hash on every request: bcrypt's cheapest cost keeps them fast."""
DRAIN_TIMEOUT = "5s"
"""How long the registry lets open requests finish on SIGTERM: set, it exits 0 then."""
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
DIGEST = re.compile(r"^Digest: (sha256:[0-9a-f]{64})$", re.MULTILINE)


def registry_available() -> str | None:
    """None when a ``Registry`` can run here, else why not (a reason to skip a test)."""
    return None if shutil.which(BINARY) else MISSING


class Registry(ChildProcess):
    """``async with Registry(root) as registry:`` serves an empty registry at ``registry.url``.

    ``root`` holds its configuration, storage, log and the helm home that ``push_chart``
    uses. With ``credentials`` (user, password) every request needs them as basic auth;
    with ``tls`` it serves HTTPS with a certificate for 127.0.0.1 from that CA. A
    relaunch (``launch`` after ``stop`` or ``kill``) keeps the storage but not the port.
    """

    def __init__(
        self,
        root: Path,
        credentials: tuple[str, str] | None = None,
        tls: trustme.CA | None = None,
    ) -> None:
        super().__init__(
            (BINARY, "serve", str(root / "config.yml")),
            root / "registry.log",
            env=_own_config_only_environment(),
            name=BINARY,
        )
        self.root = root
        self.credentials = credentials
        self.tls = tls
        self.port = 0

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, as an OCI reference names the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of its HTTP API, without a trailing slash."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) that its certificate chains to, when it serves TLS."""
        return self.root / "ca.pem" if self.tls else None

    def oci(self, path: str) -> str:
        """``oci://127.0.0.1:PORT/path``: a chart repository (or chart) in this registry."""
        return f"oci://{self.host}/{path.strip('/')}"

    def client_ssl(self) -> ssl.SSLContext:
        """An SSL context for aiohttp that trusts its certificate (unused over HTTP)."""
        context = ssl.create_default_context()
        if self.tls is not None:
            self.tls.configure_trust(context)
        return context

    def helm_env(self) -> dict[str, str]:
        """Environment for helm against this registry: a private HOME and registry config,
        so that one registry's login is never another's."""
        home = self.root / "helm"
        env = tool_env(home, home / "kubeconfig")
        env["HELM_REGISTRY_CONFIG"] = str(home / "registry-config.json")
        return env

    def helm_flags(self) -> tuple[str, ...]:
        """How helm reaches it: ``--plain-http``, or ``--ca-file`` with its CA."""
        return ("--ca-file", str(self.ca_file)) if self.ca_file else ("--plain-http",)

    # --- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if (reason := registry_available()) is not None:
            raise Unmet(reason)
        await asyncio.to_thread(self._configure)
        await super().start()
        await self.ready()

    async def ready(self) -> None:
        """Wait until it listens (its port read from its log) and ``/v2/`` answers."""
        self.port = int(await wait_for(self._listening, what=f"{self.name} to listen"))
        await wait_for(self._answers, what=f"{self.url}/v2/ to answer")

    async def _listening(self) -> str | None:
        self.check_running()
        found = LISTENING.search(await self.logs_since_launch())
        return found[1] if found else None

    async def _answers(self) -> bool:
        """Whether ``/v2/`` answers at all: 200, or 401 when it demands credentials."""
        self.check_running()
        try:
            async with (
                aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
                session.get(f"{self.url}/v2/", ssl=self.client_ssl()) as response,
            ):
                return response.status in (200, 401)
        except aiohttp.ClientConnectionError:
            return False

    # --- configuration ----------------------------------------------------------------------

    def _configure(self) -> None:
        """Write ``config.yml`` and the files it names under ``root``."""
        self.root.mkdir(parents=True, exist_ok=True)
        http: dict[str, object] = {
            "addr": "127.0.0.1:0",
            "secret": secrets.token_hex(16),  # else it warns that it made one up
            "draintimeout": DRAIN_TIMEOUT,
        }
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": "info"},  # the line naming its port is an info line
            "storage": {"filesystem": {"rootdirectory": str(self.root / "storage")}},
            "http": http,
        }
        if self.tls is not None:
            http["tls"] = self._write_certificate(self.tls)
        if self.credentials is not None:
            config["auth"] = {"htpasswd": self._write_htpasswd(*self.credentials)}
        (self.root / "config.yml").write_text(yaml.safe_dump(config))

    def _write_certificate(self, ca: trustme.CA) -> dict[str, str]:
        """A certificate for 127.0.0.1 and its key, and the CA for clients: http.tls."""
        leaf = ca.issue_cert("127.0.0.1")
        certificate, key = self.root / "tls.crt", self.root / "tls.key"
        certificate.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(self.root / "ca.pem"))
        return {"certificate": str(certificate), "key": str(key)}

    def _write_htpasswd(self, user: str, password: str) -> dict[str, str]:
        """An htpasswd file with ``user``'s bcrypt hash (the only kind it accepts): auth."""
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
        htpasswd = self.root / "htpasswd"
        htpasswd.write_text(f"{user}:{hashed}\n")
        return {"realm": "registry", "path": str(htpasswd)}


def _own_config_only_environment() -> dict[str, str]:
    """This process's environment without ``REGISTRY_*``: the registry reads those as
    configuration, over its file."""
    return {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}


async def push_chart(
    registry: Registry, chart_tgz: Path, repository: str, *, helm: str | None = None
) -> str:
    """Push a packaged chart to ``oci://HOST/repository/NAME:VERSION`` with the real helm
    (``helm_bin()`` unless ``helm`` names another), logged in first when the registry
    demands credentials; the digest of the manifest pushed, as helm reports it."""
    helm = helm or helm_bin()
    if registry.credentials is not None:
        await login(registry, helm)
    argv = (helm, "push", str(chart_tgz), registry.oci(repository), *registry.helm_flags())
    pushed = (await run(argv, registry.helm_env())).check()
    found = DIGEST.search(pushed.stdout + pushed.stderr)
    assert found, f"helm push reported no digest:\n{pushed.stdout}{pushed.stderr}"
    return found[1]


async def login(registry: Registry, helm: str | None = None) -> None:
    """``helm registry login`` with the registry's credentials, the password on stdin (never
    on a command line), stored in the registry's own helm config."""
    assert registry.credentials is not None, "the registry demands no credentials"
    helm = helm or helm_bin()
    user, password = registry.credentials
    argv = (
        *(helm, "registry", "login", registry.host, "--username", user, "--password-stdin"),
        *await _login_flags(registry, helm),
    )
    (await run(argv, registry.helm_env(), stdin=password)).check()


async def _login_flags(registry: Registry, helm: str) -> tuple[str, ...]:
    """``helm_flags``, but helm 3 logs in over HTTP without ``--plain-http``: it has no such
    flag, and speaks plain HTTP to any loopback registry (so never TLS to this one)."""
    if registry.tls is None and await _helm_major(helm, registry.helm_env()) == 3:
        return ()
    return registry.helm_flags()


async def _helm_major(helm: str, env: Mapping[str, str]) -> int:
    """The major version of the ``helm`` binary: 3 or 4."""
    shown = (await run((helm, "version", "--template", "{{.Version}}"), env)).check()
    return int(shown.stdout.strip().removeprefix("v").split(".")[0])
