"""Running the real helm and kubectl binaries from tests: one finished run, and the runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Completed:
    """A finished helm or kubectl run."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def check(self) -> Completed:
        assert self.code == 0, f"{' '.join(self.argv)} failed ({self.code}):\n{self.stderr}"
        return self

    def json(self) -> Any:
        return json.loads(self.stdout)


async def run(
    argv: tuple[str, ...], env: Mapping[str, str], stdin: str | None = None, limit: float = 90.0
) -> Completed:
    """Run a binary to completion within ``limit`` seconds (killed after that)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(None if stdin is None else stdin.encode()), limit
        )
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None
    return Completed(argv, process.returncode, out.decode(), err.decode())
