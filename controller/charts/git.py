"""Charts from git repositories: (URL, ref, path, credentials) -> a packaged chart in the
chart cache, with the real ``git`` CLI.

One bare mirror per (URL, credentials), shared by every HelmRelease that names them,
each with a private git home holding only those credentials (``gitauth``). A ref is
resolved with ``git ls-remote`` (cheap: no objects move) at most once per poll
(``refresh`` starts a new poll); the mirror fetches only when the commit is not there
yet, once however many releases ask at the same time. The chart is the tree at
``<commit>:<path>``: its tree id names it in the cache, and it is packaged into a
deterministic tarball (sorted entries, no times or owners), so a commit that leaves the
path alone yields the same chart digest and upgrades nothing. Every git process is
bounded by ``--git-timeout`` and stopped when it runs over or its caller is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from controller.api import GitChartSpec
from controller.charts.cache import CachedChart, ChartCache
from controller.charts.errors import ChartError, Reason
from controller.charts.fetched import FetchedChart
from controller.charts.gitauth import GitAuth, write_home
from controller.charts.singleflight import SingleFlight
from controller.charts.transport import safe_url
from controller.settings import GitSettings, child_environment

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 1 << 20
"""Bytes of a git command's output kept (ls-remote of a repository with many refs)."""
MAX_MIRRORS = 64
"""Mirrors kept on disk; the least recently used one beyond it is removed."""
COMMIT = re.compile(r"[0-9a-f]{7,40}")
UNAUTHORIZED = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied",
    "host key verification failed",
    "the requested url returned error: 401",
    "the requested url returned error: 403",
)
"""git's words (lower case) when the server refused the credentials, or had none."""


@dataclass(frozen=True)
class _Mirror:
    url: str
    auth: GitAuth | None
    directory: Path
    """The bare repository."""
    home: Path
    """Its private git home (gitconfig and credentials)."""


@dataclass(frozen=True)
class _Ran:
    code: int | None
    """None: stopped at the deadline."""
    stdout: bytes
    stderr: str


class GitCharts:
    """Obtains charts from git repositories into ``cache``; one per process."""

    def __init__(
        self,
        settings: GitSettings,
        cache: ChartCache,
        root: Path,
        max_chart_size: int,
        build_dependencies: Callable[[Path], Awaitable[str | None]] | None = None,
    ) -> None:
        """``build_dependencies``: builds a chart directory's ``charts/`` (helm), giving
        None or what went wrong."""
        self._settings = settings
        self._build = build_dependencies
        self._cache = cache
        self._root = root
        self._limit = max_chart_size
        self._trees: dict[tuple[str, str, str], str] = {}
        """Tree id of (mirror, commit, path)."""
        self._identities: dict[str, tuple[str, str]] = {}
        """(name, version) of each packaged chart, by digest."""
        self._mirrors: OrderedDict[str, _Mirror] = OrderedDict()
        self._resolved: dict[tuple[str, str], str] = {}
        self._flights: SingleFlight[tuple[str, ...], str | ChartError] = SingleFlight("git")
        self._reads: SingleFlight[str, tuple[str, str]] = SingleFlight("git chart identity")

    def refresh(self) -> None:
        """A new poll: refs are resolved again from their remotes at their next use (what
        was learnt of older commits goes too, so memory does not grow with history)."""
        self._resolved.clear()
        self._trees.clear()
        self._identities.clear()

    async def close(self) -> None:
        await self._flights.close()
        await self._reads.close()

    async def fetch(self, source: GitChartSpec, auth: GitAuth | None) -> FetchedChart | ChartError:
        """The chart at ``source.path`` of the commit ``source.ref`` names now."""
        await self._cache.prepare()
        mirror = await self._mirror(source.url, auth)
        ref = source.ref or self._settings.default_ref
        commit = await self._commit(mirror, ref)
        if isinstance(commit, ChartError):
            return commit
        tree_id = await self._tree(mirror, commit, source.path)
        if tree_id is None:
            return ChartError(
                "ChartNotFound",
                f"no {source.path} in commit {commit} of {shown(source.url)}",
                False,
            )
        # the same directory is another chart with its dependencies built than without
        built = "dependencies" if self._builds(source) else ""
        key = (f"git:{mirror.directory.name}", None, tree_id, built)
        cached = await self._cache.recall(key)
        if cached is None:
            packaged = await self._flights.run(
                ("package", *key[::2], built), lambda: self._package(mirror, commit, source, key)
            )
            if isinstance(packaged, ChartError):
                return packaged
            cached = await self._cache.recall(key)
            if cached is None:
                return ChartError(
                    "InvalidChart", f"the chart at {source.path} vanished from the cache", True
                )
        name, version = await self._identity(cached)
        return FetchedChart(cached.path, cached.digest, name, version, shown(source.url), commit)

    async def _identity(self, cached: CachedChart) -> tuple[str, str]:
        """(name, version) of a packaged chart: read once, however many releases ask at
        the same time."""
        identity = self._identities.get(cached.digest)
        if identity is None:
            identity = await self._reads.run(
                cached.digest, lambda: asyncio.to_thread(_chart_identity, cached.path)
            )
            self._identities[cached.digest] = identity
        return identity

    async def _tree(self, mirror: _Mirror, commit: str, path: str) -> str | None:
        """The id of the tree at ``commit:path`` (None: there is none); a commit never
        changes, so it is asked once, however many releases ask at the same time."""
        key = (mirror.directory.name, commit, path)
        tree = self._trees.get(key)
        if tree is None:
            found = await self._flights.run(
                ("tree", *key), lambda: self._rev_parse(mirror, commit, path)
            )
            if isinstance(found, ChartError):
                return None
            tree = self._trees[key] = found
        return tree

    async def _rev_parse(self, mirror: _Mirror, commit: str, path: str) -> str | ChartError:
        found = await self._run(mirror, "rev-parse", "--verify", "--quiet", f"{commit}:{path}")
        if found.code != 0:
            return ChartError("ChartNotFound", f"no {path} in commit {commit}", False)
        return found.stdout.decode().strip()

    # --- mirrors and refs -------------------------------------------------------------------

    async def _mirror(self, url: str, auth: GitAuth | None) -> _Mirror:
        """The mirror of ``url`` with ``auth`` (its home written on first use)."""
        identity = hashlib.sha256(
            f"{url}\n{auth.fingerprint() if auth else ''}".encode()
        ).hexdigest()[:24]
        mirror = self._mirrors.get(identity)
        if mirror is not None:
            self._mirrors.move_to_end(identity)
            return mirror
        mirror = _Mirror(url, auth, self._root / f"{identity}.git", self._root / f"{identity}.home")
        await asyncio.to_thread(self._root.mkdir, mode=0o700, parents=True, exist_ok=True)
        await asyncio.to_thread(write_home, mirror.home, url, auth)
        self._mirrors[identity] = mirror
        await self._evict()
        return mirror

    async def _evict(self) -> None:
        while len(self._mirrors) > MAX_MIRRORS:
            _, old = self._mirrors.popitem(last=False)
            await asyncio.to_thread(_remove, old.directory, old.home)

    async def _commit(self, mirror: _Mirror, ref: str) -> str | ChartError:
        """The commit ``ref`` names: resolved once per poll, then fetched if need be."""
        resolved = self._resolved.get((mirror.directory.name, ref))
        if resolved is not None:
            return resolved
        key = ("resolve", mirror.directory.name, ref)
        commit = await self._flights.run(key, lambda: self._resolve(mirror, ref))
        if isinstance(commit, str):
            self._resolved[(mirror.directory.name, ref)] = commit
        return commit

    async def _resolve(self, mirror: _Mirror, ref: str) -> str | ChartError:
        # an annotated tag is listed as itself and, peeled, as the commit it tags
        listed = await self._run(
            mirror, "ls-remote", "--", mirror.url, ref, f"{ref}^{{}}", cwd=False
        )
        if listed.code != 0:
            return self._failure(mirror, "ls-remote", listed)
        commit = _advertised(listed.stdout.decode(errors="replace"), ref)
        if commit is None and COMMIT.fullmatch(ref) is None:
            return ChartError(
                "VersionNotFound", f"no branch or tag {ref} in {shown(mirror.url)}", False
            )
        if commit is None or not await self._has(mirror, commit):
            fetched = await self._flights.run(
                ("fetch", mirror.directory.name), lambda: self._fetch(mirror)
            )
            if isinstance(fetched, ChartError):
                return fetched
        commit = commit or await self._expand(mirror, ref)
        if commit is None:
            return ChartError("VersionNotFound", f"no commit {ref} in {shown(mirror.url)}", False)
        return commit

    async def _has(self, mirror: _Mirror, commit: str) -> bool:
        if not mirror.directory.exists():
            return False
        found = await self._run(mirror, "cat-file", "-e", f"{commit}^{{commit}}")
        return found.code == 0

    async def _expand(self, mirror: _Mirror, short: str) -> str | None:
        found = await self._run(mirror, "rev-parse", "--verify", "--quiet", f"{short}^{{commit}}")
        return found.stdout.decode().strip() if found.code == 0 else None

    async def _fetch(self, mirror: _Mirror) -> str | ChartError:
        if not mirror.directory.exists():
            made = await self._run(
                mirror, "init", "--bare", "--quiet", str(mirror.directory), cwd=False
            )
            if made.code != 0:
                return self._failure(mirror, "init", made)
        fetched = await self._run(
            mirror,
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--",
            mirror.url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        )
        if fetched.code != 0:
            return self._failure(mirror, "fetch", fetched)
        return "fetched"

    # --- packaging ----------------------------------------------------------------------------

    async def _package(
        self, mirror: _Mirror, commit: str, source: GitChartSpec, key: tuple[str, None, str, str]
    ) -> str | ChartError:
        archived = await self._run(
            mirror, "archive", "--format=tar", f"{commit}:{source.path}", limit=self._limit
        )
        if archived.code != 0:
            return self._failure(mirror, "archive", archived)
        where = f"{source.path} in commit {commit}"
        build = await asyncio.to_thread(tempfile.mkdtemp, prefix="git-build-", dir=self._root)
        try:
            unpacked = await asyncio.to_thread(_unpack, archived.stdout, Path(build))
            if isinstance(unpacked, str):
                return ChartError("InvalidChart", f"{where}: {unpacked}", False)
            built = await self._dependencies(unpacked, source, where)
            if built is not None:
                return built
            temp, digest, size = await asyncio.to_thread(_pack, unpacked, self._root)
        finally:
            await asyncio.to_thread(shutil.rmtree, build, True)
        try:
            await self._cache.add(temp, digest, size)
        finally:
            await asyncio.to_thread(temp.unlink, True)
        self._cache.remember(key, digest)
        return digest

    def _builds(self, source: GitChartSpec) -> bool:
        """Whether the dependencies of ``source``'s chart are built before it is released."""
        wanted = not source.skip_dep_update and self._settings.update_chart_deps
        return wanted and self._build is not None

    async def _dependencies(
        self, chart: Path, source: GitChartSpec, where: str
    ) -> ChartError | None:
        """``helm dependency build`` of a chart that declares dependencies, as helm-operator
        updated them (unless ``skipDepUpdate`` or ``--update-chart-deps=false``)."""
        if self._build is None or not self._builds(source):
            return None
        if not await asyncio.to_thread(_declares_dependencies, chart):
            return None
        problem = await self._build(chart)
        if problem is None:
            return None
        return ChartError("DependenciesFailed", f"{where}: dependencies: {problem}", True)

    # --- processes ----------------------------------------------------------------------------

    async def _run(
        self, mirror: _Mirror, *args: str, cwd: bool = True, limit: int = OUTPUT_LIMIT
    ) -> _Ran:
        """``git args`` in the mirror (``cwd``), with its private home, under the deadline."""
        env = child_environment()
        env.update(HOME=str(mirror.home), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
        directory = ["--git-dir", str(mirror.directory)] if cwd else []
        process = await asyncio.create_subprocess_exec(
            "git",
            *directory,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(self._root),
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(self._settings.timeout):
                stdout, stderr = await process.communicate()
        except TimeoutError:
            _kill(process)
            await process.wait()
            return _Ran(None, b"", f"git {args[0]} did not finish in {self._settings.timeout:g}s")
        except BaseException:
            _kill(process)
            await process.wait()
            raise
        if len(stdout) > limit:
            return _Ran(1, b"", f"git {args[0]} gave more than {limit} bytes")
        return _Ran(process.returncode, stdout, stderr.decode(errors="replace"))

    def _failure(self, mirror: _Mirror, command: str, ran: _Ran) -> ChartError:
        text = ran.stderr.strip().splitlines()
        said = text[-1][:300] if text else f"exit code {ran.code}"
        lowered = ran.stderr.lower()
        refused = any(words in lowered for words in UNAUTHORIZED)
        reason: Reason = "Unauthorized" if refused else "RepositoryUnreachable"
        log.info("git %s %s: %s", command, shown(mirror.url), said)
        return ChartError(reason, f"git {command} of {shown(mirror.url)} failed: {said}", True)


def shown(url: str) -> str:
    """A git URL as messages show it: no credentials, query or fragment."""
    return safe_url(url) if "://" in url else url


def _advertised(listing: str, ref: str) -> str | None:
    """The commit ``ls-remote`` lists for ``ref`` as a branch or a tag (peeled)."""
    found: dict[str, str] = {}
    for line in listing.splitlines():
        commit, _, name = line.partition("\t")
        found[name] = commit
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", ref):
        if name in found:
            return found[name]
    return None


def _unpack(archive: bytes, into: Path) -> Path | str:
    """The chart directory of ``archive`` (a tar of it) unpacked as ``into/<name>``: regular
    files only (links and anything else left out), modes 0644/0755 (blocking). The
    directory; or why it is not a chart."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        members = [m for m in tar if m.isfile()]
        chart_yaml = next((m for m in members if _relative(m) == "Chart.yaml"), None)
        if chart_yaml is None:
            return "no Chart.yaml"
        name = _chart_name(tar.extractfile(chart_yaml))
        if name is None:
            return "Chart.yaml names no chart"
        chart = into / name
        for member in members:
            relative = _relative(member)
            if not relative or ".." in relative.split("/"):
                continue
            target = chart / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            extracted = tar.extractfile(member)
            target.write_bytes(extracted.read() if extracted is not None else b"")
            target.chmod(0o755 if member.mode & 0o111 else 0o644)
    return chart


def _pack(chart: Path, scratch: Path) -> tuple[Path, str, int]:
    """``chart`` (a directory) as a packaged chart ``<name>/...``: entries sorted, no times
    or owners (blocking). A temp file, its sha256 and size."""
    descriptor, temp_name = tempfile.mkstemp(prefix="git-chart-", dir=scratch)
    temp = Path(temp_name)
    files = sorted(path for path in chart.rglob("*") if path.is_file() and not path.is_symlink())
    with (
        os.fdopen(descriptor, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as out,
    ):
        for path in files:
            info = tarfile.TarInfo(f"{chart.name}/{path.relative_to(chart).as_posix()}")
            info.size, info.mtime = path.stat().st_size, 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            with path.open("rb") as content:
                out.addfile(info, content)
    digest = hashlib.sha256(temp.read_bytes()).hexdigest()
    return temp, digest, temp.stat().st_size


def _relative(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./").strip("/")


def _declares_dependencies(chart: Path) -> bool:
    """Whether the chart lists dependencies (Chart.yaml, or a helm 2 requirements.yaml)."""
    for name in ("Chart.yaml", "requirements.yaml"):
        path = chart / name
        if path.is_file() and _metadata(path.read_bytes()).get("dependencies"):
            return True
    return False


def _chart_name(file: IO[bytes] | None) -> str | None:
    metadata = _metadata(file.read() if file is not None else b"")
    name = metadata.get("name")
    return name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]+", name) else None


def _chart_identity(path: Path) -> tuple[str, str]:
    """(name, version) from the packaged chart's Chart.yaml (blocking)."""
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar:
            if member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                metadata = _metadata(tar.extractfile(member).read())  # type: ignore[union-attr]
                return str(metadata.get("name", "")), str(metadata.get("version", ""))
    return "", ""


def _metadata(text: bytes) -> Mapping[str, object]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)


def _remove(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
