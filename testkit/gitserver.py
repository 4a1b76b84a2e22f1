"""Bare git repositories served over smart HTTP on loopback, and helpers that build them.

Git chart sources run the real ``git`` against a server, so the server is git's own:
each request is one run of the ``git http-backend`` CGI program, its request body
(gzip or chunked as git sends it) passed through untouched and its answer streamed
back. The server can demand basic auth (a 401 with a Basic challenge makes git ask its
credential helper) and records every request with the status it answered, so a test
can count what git did. The helpers commit files straight into a bare repository with
git's plumbing, as a fixed identity at a fixed date (the same history gives the same
commit ids), never reading the user's git configuration.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import os
import signal
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from testkit.service import LoopbackSite

CGI_LIMIT = 30.0
"""Default seconds one run of ``git http-backend`` may take before it is killed: it only
bounds a hang, so it is generous for a loaded machine."""
CHUNK = 64 * 1024
BRANCH = "master"
ZERO_SHA = "0" * 40
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
}
"""Who commits and when: fixed, so that commit ids do not depend on the clock."""


def isolated_env(**extra: str) -> dict[str, str]:
    """An environment for ``git`` that reads no system nor user configuration."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
        **extra,
    }


@dataclass(frozen=True)
class GitSeen:
    """One request as the server saw it, and the status it answered.

    ``length`` is the body's Content-Length (None when git sends it chunked), ``encoding``
    its Content-Encoding (git gzips larger fetch requests).
    """

    method: str
    path: str
    query: str
    status: int
    authenticated: bool
    length: int | None
    encoding: str | None


class GitServer(LoopbackSite):
    """``async with GitServer(root) as server:`` serves the bare repositories under ``root``
    at ``server.url`` (``f"{server.url}/charts.git"``).

    With ``credentials`` (user, password) every request needs them as basic auth; a run
    of http-backend that outlasts ``cgi_limit`` seconds is killed (a 504, or a cut answer).
    """

    def __init__(
        self,
        root: Path,
        credentials: tuple[str, str] | None = None,
        *,
        cgi_limit: float = CGI_LIMIT,
    ) -> None:
        super().__init__()
        self.root = root
        self.credentials = credentials
        self.cgi_limit = cgi_limit
        self.seen: list[GitSeen] = []
        self._backend = ""

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._backend = str(await exec_path() / "git-http-backend")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._record)
        # git's gzip request bodies reach http-backend as sent: it inflates them itself.
        await self.listen(app, auto_decompress=False)

    def count(self, path: str, status: int | None = None) -> int:
        """Requests for ``path`` (answered with ``status``, if given)."""
        return sum(1 for s in self.seen if s.path == path and status in (None, s.status))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user = self._user(request)
        if self.credentials is not None and user is None:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        return await self._cgi(request, user)

    async def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        """Note a request as its answer begins: before git can have seen its end."""
        self.seen.append(
            GitSeen(
                request.method,
                request.path,
                request.query_string,
                response.status,
                authenticated=self._user(request) is not None,
                length=request.content_length,
                encoding=request.headers.get("Content-Encoding"),
            )
        )

    def _user(self, request: web.Request) -> str | None:
        """The user, when the request carries the expected credentials."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if self.credentials is None or scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user if (user, password) == self.credentials else None

    async def _cgi(self, request: web.Request, user: str | None) -> web.StreamResponse:
        """One run of http-backend, in a process group of its own (with the upload-pack it
        starts), killed if it outlasts ``cgi_limit``: then the answer is a 504 if it had not
        begun, else the connection is dropped so that git sees a cut body."""
        process = await asyncio.create_subprocess_exec(
            self._backend,
            env=self._cgi_env(request, user),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        feeding = asyncio.create_task(feed(request, process))
        response = web.StreamResponse()
        try:
            async with asyncio.timeout(self.cgi_limit):
                await relay(process, request, response)
                await feeding
                await process.wait()
        except TimeoutError:
            if not response.prepared:
                return web.Response(status=504, text="git http-backend timed out")
            drop(request)
        except ConnectionError:
            drop(request)  # the client went away: nobody reads the rest
        finally:
            await reap(process, feeding)
        return response

    def _cgi_env(self, request: web.Request, user: str | None) -> dict[str, str]:
        """The CGI variables http-backend reads, in an environment of its own."""
        headers = request.headers
        optional = {
            "CONTENT_LENGTH": headers.get("Content-Length"),
            "HTTP_CONTENT_ENCODING": headers.get("Content-Encoding"),
            "HTTP_GIT_PROTOCOL": headers.get("Git-Protocol"),
            "REMOTE_USER": user,
        }
        return isolated_env(
            GIT_PROJECT_ROOT=str(self.root),
            GIT_HTTP_EXPORT_ALL="1",
            REQUEST_METHOD=request.method,
            PATH_INFO=request.path,
            QUERY_STRING=request.query_string,
            CONTENT_TYPE=headers.get("Content-Type", ""),
            REMOTE_ADDR=request.remote or "",
            **{name: value for name, value in optional.items() if value is not None},
        )


async def feed(request: web.Request, process: asyncio.subprocess.Process) -> None:
    """Pass the request body, as it arrives, to the CGI's stdin, then close it.

    If either side goes away (http-backend stops reading, the client disconnects) the
    closed stdin ends http-backend's read, and its answer or the lost connection says why.
    """
    stdin = process.stdin
    assert stdin is not None
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            stdin.write(chunk)
            await stdin.drain()
    except ConnectionError:
        pass
    finally:
        stdin.close()


async def relay(
    process: asyncio.subprocess.Process, request: web.Request, response: web.StreamResponse
) -> None:
    """The CGI's headers (``Status:`` and the others) as the response's, then its body."""
    stdout = process.stdout
    assert stdout is not None
    while line := (await stdout.readline()).rstrip(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "status":
            code, _, reason = value.strip().partition(" ")
            response.set_status(int(code), reason or None)
        else:
            response.headers.add(name, value.strip())
    await response.prepare(request)
    while chunk := await stdout.read(CHUNK):
        await response.write(chunk)
    await response.write_eof()


def drop(request: web.Request) -> None:
    """Close the connection: a response already begun cannot be finished."""
    if request.transport is not None:
        request.transport.close()


async def reap(process: asyncio.subprocess.Process, feeding: asyncio.Task[None]) -> None:
    """Kill the CGI's group if it still runs (a timeout, a cancelled request); wait for both."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
    feeding.cancel()
    await asyncio.gather(feeding, return_exceptions=True)


async def exec_path() -> Path:
    """Where git keeps its programs (``git --exec-path``): http-backend is one of them."""
    process = await asyncio.create_subprocess_exec(
        "git", "--exec-path", env=isolated_env(), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, "git --exec-path failed"
    return Path(out.decode().strip())


# --- building repositories -------------------------------------------------------------------


def git(bare: Path, *args: str, stdin: bytes = b"", index: Path | None = None) -> str:
    """``git args`` on the bare repository ``bare`` (with ``index`` as its index, if given)
    and a private HOME: its stdout."""
    with tempfile.TemporaryDirectory() as home:
        env = isolated_env(GIT_DIR=str(bare), HOME=home, **IDENTITY)
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        completed = subprocess.run(
            ("git", *args), input=stdin, capture_output=True, check=False, env=env
        )
    assert completed.returncode == 0, f"git {args[0]} failed:\n{completed.stderr.decode()}"
    return completed.stdout.decode().strip()


def chart_files(packaged: Path, directory: str) -> dict[str, bytes | None]:
    """The files of a packaged chart (``.tgz``) as ``commit_files`` takes them, under
    ``directory`` of the repository (blocking)."""
    files: dict[str, bytes | None] = {}
    with tarfile.open(packaged) as archive:
        for member in archive:
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[f"{directory}/{member.name.split('/', 1)[1]}"] = extracted.read()
    return files


def init_bare(root: Path, name: str) -> Path:
    """A new empty bare repository ``root/name`` (``charts.git``) whose HEAD is ``master``."""
    bare = root / name
    bare.mkdir(parents=True)
    git(bare, "init", "--quiet", "--bare", f"--initial-branch={BRANCH}")
    return bare


def commit_files(
    bare: Path, files: Mapping[str, bytes | None], message: str, *, branch: str = BRANCH
) -> str:
    """Commit ``files`` (path: content, None deletes it) on top of ``branch``: the new id.

    The other files of the branch stay as they are; a new branch starts empty.
    """
    ref = f"refs/heads/{branch}"
    parent = git(bare, "for-each-ref", "--format=%(objectname)", ref)
    entries = [
        f"0 {ZERO_SHA}\t{path}"
        if data is None
        else f"100644 {git(bare, 'hash-object', '-w', '--stdin', stdin=data)}\t{path}"
        for path, data in files.items()
    ]
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        if parent:
            git(bare, "read-tree", parent, index=index)
        git(bare, "update-index", "--index-info", stdin="\n".join(entries).encode(), index=index)
        tree = git(bare, "write-tree", index=index)
    parents = ("-p", parent) if parent else ()
    commit = git(bare, "commit-tree", tree, *parents, stdin=message.encode())
    git(bare, "update-ref", ref, commit, parent or ZERO_SHA)
    return commit


def tag(bare: Path, name: str, target: str, message: str | None = None) -> None:
    """Tag ``target``: a lightweight tag, or an annotated one when there is a ``message``."""
    if message is None:
        git(bare, "update-ref", f"refs/tags/{name}", target, ZERO_SHA)
    else:
        git(bare, "tag", "--annotate", f"--message={message}", name, target)
