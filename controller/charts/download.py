"""Chart tarballs: stream one into a private temp file (hashing it), and check it is a chart.

The blocking parts (file writes, hashing, decompression) run in threads; the event loop
only moves chunks.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import aiohttp
import yaml

from controller.charts.errors import ChartError
from controller.charts.transport import read_limited

WRITE_BUFFER: Final = 1 << 20
"""Bytes gathered on the event loop before one write in a thread."""
MAX_UNPACKED: Final = 200 << 20
"""A chart that decompresses to more than this is refused (a gzip bomb, not a chart)."""
MAX_CHART_YAML: Final = 1 << 20
TEMP_PREFIX: Final = ".download-"
TEMP_SUFFIX: Final = ".tmp"

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Downloaded:
    """A tarball written to a temp file that the caller now owns."""

    path: Path
    digest: str
    size: int


class _TempFile:
    """A 0o600 temp file that chunks are appended to (and hashed) from the event loop."""

    def __init__(self, path: Path, file: IO[bytes]) -> None:
        self.path = path
        self._file = file
        self._hash = hashlib.sha256()
        self._buffer = bytearray()

    @classmethod
    async def create(cls, directory: Path) -> _TempFile:
        def open_temp() -> tuple[Path, IO[bytes]]:
            descriptor, name = tempfile.mkstemp(
                prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory
            )
            return Path(name), os.fdopen(descriptor, "wb")

        return cls(*await asyncio.to_thread(open_temp))

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        if len(self._buffer) >= WRITE_BUFFER:
            await self._flush()

    async def _flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()

        def write() -> None:
            self._hash.update(data)
            self._file.write(data)

        await asyncio.to_thread(write)

    async def finish(self) -> str:
        """Flush and close; the sha256 hex digest of everything written."""
        await self._flush()
        await asyncio.to_thread(self._file.close)
        return self._hash.hexdigest()

    async def discard(self) -> None:
        def remove() -> None:
            self._file.close()
            self.path.unlink(missing_ok=True)

        await asyncio.to_thread(remove)


async def stream_to_temp_file(
    response: aiohttp.ClientResponse, directory: Path, limit: int
) -> Downloaded | ChartError:
    """Write the body of ``response`` into a new temp file in ``directory``."""
    file = await _TempFile.create(directory)
    try:
        size = await read_limited(response, limit, file.write)
        if isinstance(size, ChartError):
            await file.discard()
            return size
        digest = await file.finish()
    except BaseException:
        await file.discard()
        raise
    return Downloaded(file.path, digest, size)


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file (blocking)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def check_chart_archive(path: Path, name: str) -> str | None:
    """Why ``path`` is not a packaged chart named ``name``, or None when it is (blocking).

    The whole gzip stream is read once first: that catches truncation and corruption
    (gzip CRC) anywhere in the file, and bounds the unpacked size.
    """
    try:
        with gzip.open(path, "rb") as unpacked:
            total = 0
            while chunk := unpacked.read(WRITE_BUFFER):
                total += len(chunk)
                if total > MAX_UNPACKED:
                    return f"the chart unpacks to more than {MAX_UNPACKED} bytes"
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    return _check_metadata(archive, member, name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        return f"not a gzip-compressed tar archive ({error.__class__.__name__})"
    return "the archive has no <chart>/Chart.yaml"


def _check_metadata(archive: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> str | None:
    if member.size > MAX_CHART_YAML:
        return "Chart.yaml is too large"
    file = archive.extractfile(member)
    if file is None:
        return "Chart.yaml cannot be read"
    try:
        metadata = yaml.load(file.read(), Loader=_Loader)
    except yaml.YAMLError:
        return "Chart.yaml is not valid YAML"
    found = metadata.get("name") if isinstance(metadata, dict) else None
    if found != name:
        return f"the archive holds chart {found!r}, not {name!r}"
    return None
