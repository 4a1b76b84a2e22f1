"""scripts/pin-base-image: the Dockerfile's base pinned by the digest of its tag's image index.

Against the real registry of testkit (docker-registry), to which the test pushes a small
two-platform OCI image (layer and config blobs, two image manifests, an image index under
the tag) through its HTTP API: the script pins a copy of the Dockerfile to the index's
digest, with the tag in the comment above the ARG and nothing else changed; `--check`
(the tag read from that comment) passes, then fails naming both digests once a new index
is pushed under the same tag, until the script pins the new one. A Dockerfile with a tag
only gets its digest and comment. A HOST:PORT/REPOSITORY name is that host's, over HTTPS
with its certificate verified (SSL_CERT_FILE naming the CA: an unknown CA is an error); an
unknown tag is an error naming it. Against a small aiohttp server that answers a manifest
only with a Bearer token from its own realm (Docker Hub's way), the script fetches an
anonymous token for the challenge's service and scope and resolves the digest, from the
Docker-Content-Digest header or, when a registry sends none, from the sha256 of a GET's
body. An unreachable registry, and plain http off loopback, are one-line errors with exit
status 1 that leave the Dockerfile as it was. The registry tests are skipped, saying why,
only where the docker-registry binary is not installed.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import socket
import sys
import tarfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
import yarl
from aiohttp import web

from testkit import ROOT, Completed, Registry, registry_available, run
from testkit.service import LoopbackSite

UNAVAILABLE = registry_available()
needs_registry = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")

SCRIPT = ROOT / "scripts" / "pin-base-image"
TAG = "python:3.12-slim"
REPOSITORY, TAG_NAME = "library/python", "3.12-slim"
COMMENT = f"# {TAG}, pinned by the digest of its image index; update with scripts/pin-base-image"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
PLATFORMS = ("amd64", "arm64")
ORIGINAL = (ROOT / "Dockerfile").read_text()


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


async def pin(*args: str, env: Mapping[str, str] | None = None) -> Completed:
    """scripts/pin-base-image with ``args``, as its shebang runs it."""
    return await run((sys.executable, str(SCRIPT), *args), env or os.environ, limit=60)


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    """A copy of the project's Dockerfile."""
    return Path(shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile"))


async def read(path: Path) -> str:
    return await asyncio.to_thread(path.read_text)


def pinned_lines(dockerfile: str) -> tuple[str, str]:
    """The PYTHON_IMAGE ARG line of ``dockerfile`` (its text) and the line above it."""
    lines = dockerfile.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("ARG PYTHON_IMAGE="))
    return lines[index - 1], lines[index]


# --- pushing an image index through the registry's HTTP API -----------------------------------


class Pusher:
    """Pushes blobs, image manifests and image indexes to ``registry`` over its HTTP API."""

    def __init__(self, session: aiohttp.ClientSession, registry: Registry) -> None:
        self.session = session
        self.registry = registry

    def url(self, path: str) -> str:
        return f"{self.registry.url}/v2/{REPOSITORY}/{path}"

    async def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        """Upload ``data`` (POST an upload, PUT it whole with its digest): its descriptor."""
        digest = sha256(data)
        ssl = self.registry.client_ssl()
        async with self.session.post(self.url("blobs/uploads/"), ssl=ssl) as started:
            assert started.status == 202, await started.text()
            location = str(yarl.URL(self.registry.url).join(yarl.URL(started.headers["Location"])))
        upload = yarl.URL(
            f"{location}{'&' if '?' in location else '?'}digest={digest}", encoded=True
        )
        headers = {"Content-Type": "application/octet-stream"}
        async with self.session.put(upload, data=data, headers=headers, ssl=ssl) as done:
            assert done.status == 201, await done.text()
            assert done.headers["Docker-Content-Digest"] == digest
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    async def manifest(self, reference: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """PUT ``document`` (its own mediaType) as manifest ``reference``: its descriptor."""
        body = json.dumps(document, indent=2).encode()
        headers = {"Content-Type": document["mediaType"]}
        ssl = self.registry.client_ssl()
        async with self.session.put(
            self.url(f"manifests/{reference}"), data=body, headers=headers, ssl=ssl
        ) as done:
            assert done.status == 201, await done.text()
            assert done.headers["Docker-Content-Digest"] == sha256(body)
        return {"mediaType": document["mediaType"], "digest": sha256(body), "size": len(body)}

    async def image_index(self, tag: str, content: str) -> str:
        """A two-platform image whose one file says ``content``, its index pushed as ``tag``:
        the index's digest."""
        entries = []
        for architecture in PLATFORMS:
            layer = tar_gz({"etc/content": f"{content} {architecture}\n"})
            config = {
                "architecture": architecture,
                "os": "linux",
                "config": {"Cmd": ["python3"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(gzip.decompress(layer))]},
            }
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": await self.blob(json.dumps(config).encode(), OCI_CONFIG),
                "layers": [await self.blob(layer, OCI_LAYER)],
            }
            descriptor = await self.manifest(
                sha256(json.dumps(manifest, indent=2).encode()), manifest
            )
            entries.append(
                {**descriptor, "platform": {"architecture": architecture, "os": "linux"}}
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return str((await self.manifest(tag, index))["digest"])


def tar_gz(files: Mapping[str, str]) -> bytes:
    """A gzipped tar of ``files`` (path: text)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as archive,
    ):
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
async def pusher(registry: Registry) -> AsyncIterator[Pusher]:
    async with aiohttp.ClientSession() as session:
        yield Pusher(session, registry)


# --- against the real registry ----------------------------------------------------------------


@needs_registry
async def test_pins_the_index_digest_and_check_fails_once_the_tag_moves(
    registry: Registry, pusher: Pusher, dockerfile: Path
) -> None:
    first = await pusher.image_index(TAG_NAME, "first")

    done = await pin("--dockerfile", str(dockerfile), "--registry-url", registry.url, "--tag", TAG)
    assert done.code == 0, done.stderr
    assert pinned_lines(await read(dockerfile)) == (COMMENT, f"ARG PYTHON_IMAGE={TAG}@{first}")
    assert f"ARG PYTHON_IMAGE={TAG}@{first} (the digest of its image index; was " in done.stdout
    # Nothing but the pin changed.
    old_comment, old_arg = pinned_lines(ORIGINAL)
    expected = ORIGINAL.replace(old_arg, f"ARG PYTHON_IMAGE={TAG}@{first}")
    assert await read(dockerfile) == expected.replace(old_comment, COMMENT)

    check = ("--check", "--dockerfile", str(dockerfile), "--registry-url", registry.url)
    done = await pin(*check)  # the tag: the comment's
    assert done.code == 0, done.stderr
    assert f"{TAG} is pinned to {first}, the digest of its image index now" in done.stdout

    second = await pusher.image_index(TAG_NAME, "second")
    assert second != first
    pinned = await read(dockerfile)
    done = await pin(*check)
    assert done.code == 1, done.stdout
    assert (
        f"PYTHON_IMAGE is pinned to {first}, but {TAG} now names {second}"
        " (scripts/pin-base-image updates it)" in done.stderr
    )
    assert await read(dockerfile) == pinned

    done = await pin("--dockerfile", str(dockerfile), "--registry-url", registry.url)
    assert done.code == 0, done.stderr
    assert f"(the digest of its image index; was {first})" in done.stdout
    assert pinned_lines(await read(dockerfile)) == (COMMENT, f"ARG PYTHON_IMAGE={TAG}@{second}")
    assert (await pin(*check)).code == 0


@needs_registry
async def test_a_tag_only_base_gets_its_digest_and_comment(
    registry: Registry, pusher: Pusher, tmp_path: Path
) -> None:
    digest = await pusher.image_index(TAG_NAME, "only")
    dockerfile = tmp_path / "Dockerfile"
    await asyncio.to_thread(
        dockerfile.write_text, f"ARG PYTHON_IMAGE={TAG}\nFROM ${{PYTHON_IMAGE}}\n"
    )
    done = await pin("--check", "--dockerfile", str(dockerfile), "--registry-url", registry.url)
    assert done.code == 1, done.stdout
    assert f"pinned to no digest (a tag only), but {TAG} now names {digest}" in done.stderr

    done = await pin("--dockerfile", str(dockerfile), "--registry-url", registry.url)
    assert done.code == 0, done.stderr
    assert await read(dockerfile) == (
        f"{COMMENT}\nARG PYTHON_IMAGE={TAG}@{digest}\nFROM ${{PYTHON_IMAGE}}\n"
    )


@needs_registry
async def test_an_unknown_tag_is_an_error_naming_it(registry: Registry, dockerfile: Path) -> None:
    done = await pin(
        *("--dockerfile", str(dockerfile), "--registry-url", registry.url),
        *("--tag", "python:3.99-slim"),
    )
    assert done.code == 1
    assert done.stderr.startswith("pin-base-image: python:3.99-slim: no such tag (")
    assert await read(dockerfile) == ORIGINAL


@needs_registry
async def test_a_host_port_name_is_that_registry_over_verified_tls(
    tmp_path: Path, dockerfile: Path
) -> None:
    ca = trustme.CA()
    async with (
        Registry(tmp_path / "registry", tls=ca) as registry,
        aiohttp.ClientSession() as session,
    ):
        digest = await Pusher(session, registry).image_index(TAG_NAME, "tls")
        tag = f"{registry.host}/{REPOSITORY}:{TAG_NAME}"
        assert registry.ca_file is not None
        trusting = {**os.environ, "SSL_CERT_FILE": str(registry.ca_file)}
        done = await pin("--dockerfile", str(dockerfile), "--tag", tag, env=trusting)
        assert done.code == 0, done.stderr
        assert pinned_lines(await read(dockerfile))[1] == f"ARG PYTHON_IMAGE={tag}@{digest}"

        other = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        distrusting = {**os.environ, "SSL_CERT_FILE": str(other)}
        done = await pin("--check", "--dockerfile", str(dockerfile), env=distrusting)
        assert done.code == 1
        assert done.stderr.startswith(f"pin-base-image: cannot reach https://{registry.host}/")
        assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
        assert done.stderr.count("\n") == 1


# --- a registry that hands out anonymous tokens ------------------------------------------------


class TokenRegistry(LoopbackSite):
    """Serves one manifest, only to a request with the Bearer token that its /token realm
    hands out for its service and scope; else a 401 with the challenge (Docker Hub's way).
    Without ``send_digest``, no Docker-Content-Digest header."""

    SERVICE = "registry.test"
    SCOPE = f"repository:{REPOSITORY}:pull"

    def __init__(self, manifest: bytes, *, send_digest: bool) -> None:
        super().__init__()
        self.manifest = manifest
        self.send_digest = send_digest
        self.token = secrets.token_urlsafe(16)
        self.token_queries: list[dict[str, str]] = []
        self.manifest_requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/token", self._token)
        app.router.add_route("*", f"/v2/{REPOSITORY}/manifests/{TAG_NAME}", self._manifest)
        await self.listen(app)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_queries.append(dict(request.query))
        if request.query.get("service") != self.SERVICE or request.query.get("scope") != self.SCOPE:
            return web.json_response({"details": "wrong service or scope"}, status=400)
        return web.json_response({"token": self.token, "expires_in": 300})

    async def _manifest(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        self.manifest_requests.append((request.method, authorization))
        if authorization != f"Bearer {self.token}":
            challenge = (
                f'Bearer realm="{self.url}/token",service="{self.SERVICE}",scope="{self.SCOPE}"'
            )
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                status=401,
                headers={"WWW-Authenticate": challenge},
            )
        headers = {"Content-Type": OCI_INDEX}
        if self.send_digest:
            headers["Docker-Content-Digest"] = sha256(self.manifest)
        return web.Response(body=self.manifest, headers=headers)


@pytest.mark.parametrize("send_digest", [True, False], ids=["digest-header", "no-digest-header"])
async def test_a_bearer_challenge_is_answered_with_an_anonymous_token(
    dockerfile: Path, send_digest: bool
) -> None:
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    async with TokenRegistry(index, send_digest=send_digest) as served:
        done = await pin("--dockerfile", str(dockerfile), "--registry-url", served.url)
    assert done.code == 0, done.stderr
    assert pinned_lines(await read(dockerfile)) == (
        COMMENT,
        f"ARG PYTHON_IMAGE={TAG}@{sha256(index)}",
    )
    assert served.token_queries == [{"service": served.SERVICE, "scope": served.SCOPE}]
    bearer = f"Bearer {served.token}"
    expected = [("HEAD", None), ("HEAD", bearer)] + ([] if send_digest else [("GET", bearer)])
    assert served.manifest_requests == expected


# --- errors -------------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


async def test_an_unreachable_registry_is_a_one_line_error(
    dockerfile: Path, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    for mode in ((), ("--check",)):
        done = await pin(*mode, "--dockerfile", str(dockerfile), "--registry-url", url)
        assert done.code == 1
        assert done.stdout == ""
        assert done.stderr == (
            f"pin-base-image: cannot reach {url}/v2/{REPOSITORY}/manifests/{TAG_NAME}:"
            " Connection refused\n"
        )
    assert await read(dockerfile) == ORIGINAL


async def test_plain_http_off_loopback_is_refused(dockerfile: Path) -> None:
    done = await pin("--dockerfile", str(dockerfile), "--registry-url", "http://registry.test")
    assert done.code == 1
    assert done.stderr == (
        "pin-base-image: --registry-url http://registry.test is plain http:"
        " only https, or http on loopback\n"
    )
