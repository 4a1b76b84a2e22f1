"""testkit's git server: the real git CLI clones, lists and fetches over smart HTTP.

Covers: a clone checks out what ``commit_files`` committed; ls-remote lists branches and
tags (an annotated one peeled); a second commit (a change and a deletion) is fetched, and
the server counts the ref listings and fetches; gzip and chunked request bodies reach
git intact; an unknown repository is a 404; with credentials, git without them or with
wrong ones fails on the 401 (no prompt), and with stored ones it clones and pushes; a
run of http-backend that stalls is killed and its answer cut; the same history gives
the same commit ids.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit import Completed, GitServer, commit_files, init_bare, run, tag

CHART = {"Chart.yaml": b"apiVersion: v2\nname: app\nversion: 1.0.0\n"}
VALUES = {"values.yaml": b"replicas: 1\n"}
USER, PASSWORD = "reader", "s3cret"
REFS = "/charts.git/info/refs"
UPLOAD = "/charts.git/git-upload-pack"
STALLED = (
    b"POST /charts.git/git-upload-pack HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/x-git-upload-pack-request\r\nContent-Length: 1000\r\n\r\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "served"


@pytest.fixture
def bare(root: Path) -> Path:
    return init_bare(root, "charts.git")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """git as a client: a private HOME and configuration, never a prompt."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_TERMINAL_PROMPT": "0",
    }


@pytest.fixture
async def server(root: Path, bare: Path) -> AsyncIterator[GitServer]:
    async with GitServer(root) as git_server:
        yield git_server


@pytest.fixture
async def locked(root: Path, bare: Path) -> AsyncIterator[GitServer]:
    """A server that demands ``USER`` and ``PASSWORD``."""
    async with GitServer(root, credentials=(USER, PASSWORD)) as git_server:
        yield git_server


async def git(env: dict[str, str], *args: str, stdin: str | None = None) -> Completed:
    return await run(("git", *args), env, stdin)


def store_credentials(home: Path, server: GitServer, user: str, password: str) -> None:
    """Credentials where git's ``store`` helper finds them, never on a command line."""
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    store = home / ".git-credentials"
    store.write_text(f"http://{user}:{password}@127.0.0.1:{server.port}\n")
    store.chmod(0o600)


async def test_clone_checks_out_master(
    server: GitServer, bare: Path, env: dict[str, str], tmp_path: Path
) -> None:
    files = {**CHART, "templates/cm.yaml": b"kind: ConfigMap\n"}
    sha = await asyncio.to_thread(commit_files, bare, files, "first")
    clone = tmp_path / "clone"
    (await git(env, "clone", "--quiet", f"{server.url}/charts.git", str(clone))).check()
    assert await head(env, clone) == sha
    assert (clone / "Chart.yaml").read_bytes() == CHART["Chart.yaml"]
    assert (clone / "templates" / "cm.yaml").read_bytes() == b"kind: ConfigMap\n"


async def test_ls_remote_lists_branches_and_tags(
    server: GitServer, bare: Path, env: dict[str, str]
) -> None:
    first = await asyncio.to_thread(commit_files, bare, CHART, "first")
    other = await asyncio.to_thread(commit_files, bare, VALUES, "elsewhere", branch="next")
    await asyncio.to_thread(tag, bare, "v1.0.0", first)
    await asyncio.to_thread(tag, bare, "v2.0.0", other, "release 2")
    listed = await ls_remote(server, env)
    assert listed["HEAD"] == listed["refs/heads/master"] == first
    assert listed["refs/heads/next"] == other
    assert listed["refs/tags/v1.0.0"] == first
    assert listed["refs/tags/v2.0.0"] != other  # the tag object, peeled below
    assert listed["refs/tags/v2.0.0^{}"] == other


async def test_a_second_commit_is_fetched(
    server: GitServer, bare: Path, env: dict[str, str], tmp_path: Path
) -> None:
    await asyncio.to_thread(commit_files, bare, {**CHART, **VALUES}, "first")
    clone = tmp_path / "clone"
    (await git(env, "clone", "--quiet", f"{server.url}/charts.git", str(clone))).check()
    assert (server.count(REFS, 200), server.count(UPLOAD, 200)) == (1, 2)  # ls-refs, fetch
    changed = {"Chart.yaml": b"apiVersion: v2\nname: app\nversion: 1.1.0\n", "values.yaml": None}
    second = await asyncio.to_thread(commit_files, bare, changed, "second")
    (await git(env, "-C", str(clone), "pull", "--quiet", "--ff-only")).check()
    assert await head(env, clone) == second
    assert (clone / "Chart.yaml").read_bytes() == changed["Chart.yaml"]
    assert not (clone / "values.yaml").exists()
    assert (server.count(REFS, 200), server.count(UPLOAD, 200)) == (2, 4)
    assert {(s.method, s.query) for s in server.seen if s.path == REFS} == {
        ("GET", "service=git-upload-pack")
    }


async def test_a_gzip_fetch_request_reaches_git(
    server: GitServer, bare: Path, env: dict[str, str], tmp_path: Path
) -> None:
    await asyncio.to_thread(commit_files, bare, CHART, "first")
    clone = tmp_path / "clone"
    (await git(env, "clone", "--quiet", f"{server.url}/charts.git", str(clone))).check()
    await pile_up(env, clone, 64)  # commits the server lacks: git offers them in a long body
    second = await asyncio.to_thread(commit_files, bare, VALUES, "second")
    (await git(env, "-C", str(clone), "fetch", "--quiet")).check()
    assert await rev_parse(env, clone, "origin/master") == second
    assert any(s.encoding == "gzip" for s in server.seen if s.path == UPLOAD)


async def test_an_unknown_repository_is_a_404(server: GitServer, env: dict[str, str]) -> None:
    listing = await git(env, "ls-remote", f"{server.url}/missing.git")
    assert listing.code != 0
    assert server.count("/missing.git/info/refs", 404) == 1


async def test_without_credentials_git_fails_on_the_401(
    locked: GitServer, bare: Path, env: dict[str, str]
) -> None:
    await asyncio.to_thread(commit_files, bare, CHART, "first")
    listing = await git(env, "ls-remote", f"{locked.url}/charts.git")
    assert listing.code != 0
    assert "terminal prompts disabled" in listing.stderr
    assert locked.count(REFS, 401) == 1
    assert not any(s.authenticated for s in locked.seen)


async def test_wrong_stored_credentials_fail(
    locked: GitServer, bare: Path, env: dict[str, str], home: Path
) -> None:
    await asyncio.to_thread(commit_files, bare, CHART, "first")
    store_credentials(home, locked, USER, "wrong")
    listing = await git(env, "ls-remote", f"{locked.url}/charts.git")
    assert listing.code != 0
    assert locked.count(REFS, 401) == 2  # the challenge, then the refused credentials
    assert not any(s.authenticated for s in locked.seen)


async def test_stored_credentials_let_git_clone(
    locked: GitServer, bare: Path, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    sha = await asyncio.to_thread(commit_files, bare, CHART, "first")
    store_credentials(home, locked, USER, PASSWORD)
    clone = tmp_path / "clone"
    (await git(env, "clone", "--quiet", f"{locked.url}/charts.git", str(clone))).check()
    assert await head(env, clone) == sha
    assert [s.status for s in locked.seen if s.path == REFS] == [401, 200]
    assert all(s.authenticated for s in locked.seen if s.status == 200)


async def test_a_large_chunked_push_lands(
    locked: GitServer, bare: Path, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    await asyncio.to_thread(commit_files, bare, CHART, "first")
    store_credentials(home, locked, USER, PASSWORD)
    clone = tmp_path / "clone"
    (await git(env, "clone", "--quiet", f"{locked.url}/charts.git", str(clone))).check()
    (clone / "blob").write_bytes(os.urandom(300_000))  # incompressible: one large pack
    (await git(env, "-C", str(clone), "add", "blob")).check()
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    (await git(env, "-C", str(clone), *identity, "commit", "--quiet", "-m", "big")).check()
    pushing = ("-c", "http.postBuffer=65536", "push", "--quiet")  # above it: chunked
    (await git(env, "-C", str(clone), *pushing)).check()
    assert await rev_parse(env, bare, "master") == await head(env, clone)
    receive = [s for s in locked.seen if s.path == "/charts.git/git-receive-pack"]
    assert any(s.length is None and s.status == 200 for s in receive)


async def test_a_stalled_run_is_killed_and_its_answer_cut(root: Path, bare: Path) -> None:
    async with GitServer(root, cgi_limit=0.2) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(STALLED)  # announces a body it never sends: upload-pack waits for it
        answer = await asyncio.wait_for(reader.read(), 5.0)  # until the server hangs up
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 200 ")  # http-backend answers before it reads
    assert not answer.endswith(b"0\r\n\r\n")  # the chunked body never ends
    assert server.count(UPLOAD) == 1


def test_the_same_files_give_the_same_commit(tmp_path: Path) -> None:
    one, two = (init_bare(tmp_path, name) for name in ("one.git", "two.git"))
    assert commit_files(one, CHART, "first") == commit_files(two, CHART, "first")


async def head(env: dict[str, str], clone: Path) -> str:
    return await rev_parse(env, clone, "HEAD")


async def rev_parse(env: dict[str, str], repository: Path, revision: str) -> str:
    return (await git(env, "-C", str(repository), "rev-parse", revision)).check().stdout.strip()


async def ls_remote(server: GitServer, env: dict[str, str]) -> dict[str, str]:
    """ref: id, as ``git ls-remote`` lists them."""
    listing = (await git(env, "ls-remote", f"{server.url}/charts.git")).check()
    return {ref: sha for sha, ref in (line.split("\t") for line in listing.stdout.splitlines())}


async def pile_up(env: dict[str, str], clone: Path, count: int) -> None:
    """``count`` empty commits on the clone's master, in one run of ``git fast-import``."""
    stream = "".join(
        f"commit refs/heads/master\ncommitter Test <test@example.com> {1710000000 + n} +0000\n"
        f"data 2\n{n % 10}\n" + ("from refs/heads/master^0\n" if n == 0 else "") + "\n"
        for n in range(count)
    )
    (await git(env, "-C", str(clone), "fast-import", "--quiet", stdin=stream)).check()
