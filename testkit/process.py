"""A child process run by a test, a benchmark or the demo, its output kept in a log file.

A plain ``subprocess.Popen`` child: no asyncio object of it belongs to an event loop, so
one process can outlive the loop of the test that started it (a session-wide operator).
Its output is appended to one log file across restarts, and quoted when it fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from testkit.paths import ROOT
from testkit.service import Service
from testkit.waiting import Unmet

STOP_LIMIT = 60.0
"""Seconds from SIGTERM to exit before SIGKILL: more than the operator's shutdown grace."""
LOG_TAIL = 4000


class ChildProcess(Service):
    """``argv`` as a restartable child: ``launch``, ``stop`` (SIGTERM), ``kill`` (SIGKILL).

    ``async with`` starts it and ends it with the block (SIGTERM, SIGKILL as a last resort,
    whatever its exit status); ``stop`` within the block also checks that it exited 0.
    """

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self.log_path = log_path
        self.name = name or log_path.stem
        self._env = dict(os.environ if env is None else env)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.launched_at = 0.0
        """``time.monotonic()`` of the last launch."""

    def launch(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self._env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.launched_at = time.monotonic()

    async def start(self) -> None:
        """Launch; subclasses also wait until the process is ready for work."""
        self.launch()

    async def end(self) -> None:
        """``terminate``, whatever the exit status."""
        await asyncio.to_thread(self.terminate)

    async def stop(self) -> None:
        """SIGTERM and wait; fails (with its log) unless it exits 0 within ``STOP_LIMIT``."""
        code, killed = await asyncio.to_thread(self.terminate)
        if killed:
            raise Unmet(f"{self.name} ignored SIGTERM for {STOP_LIMIT:g}s:\n{self.log_tail()}")
        if code not in (0, None):
            raise Unmet(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def terminate(self) -> tuple[int | None, bool]:
        """SIGTERM, then SIGKILL after ``STOP_LIMIT``: (exit status, whether it was killed).

        Blocking, for synchronous teardown; (None, False) if it was not running.
        """
        process, self._process = self._process, None
        if process is None:
            return None, False
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_LIMIT), False
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(), True

    def kill(self) -> None:
        """SIGKILL now: the process dies without releasing anything (a crashed pod)."""
        process, self._process = self._process, None
        assert process is not None, f"{self.name} is not running"
        process.kill()
        process.wait()

    async def exited(self) -> int:
        """Wait until the process ends by itself; its exit status."""
        assert self._process is not None, f"{self.name} is not running"
        return await asyncio.to_thread(self._process.wait)

    def check_running(self) -> None:
        """Fail, quoting its log, if the process is not running (it died, say)."""
        process = self._process
        if process is None or process.poll() is not None:
            code = None if process is None else process.returncode
            raise Unmet(f"{self.name} is not running (exit status {code}):\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} is not running"
        return self._process.pid

    # --- what it shows --------------------------------------------------------------------

    async def logs(self) -> str:
        """Everything it logged, across restarts."""
        return await asyncio.to_thread(self._read_log, 0)

    async def logs_since_launch(self) -> str:
        return await asyncio.to_thread(self._read_log, self._log_offset)

    def log_tail(self) -> str:
        return self._read_log(0)[-LOG_TAIL:]

    async def cpu_seconds(self) -> float:
        """User + system CPU of the process itself (its children not counted), from /proc."""
        stat = await asyncio.to_thread(_read, f"/proc/{self.pid}/stat")
        utime, stime = stat.rsplit(")", 1)[1].split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    async def memory(self) -> dict[str, int]:
        """VmHWM (peak RSS) and VmRSS of the process, in bytes, from /proc."""
        status = await asyncio.to_thread(_read, f"/proc/{self.pid}/status")
        memory = {}
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                memory[key] = int(value.split()[0]) * 1024
        return memory

    def _read_log(self, offset: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()
