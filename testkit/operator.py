"""The operator as a child process: ``python -m controller run`` with the flags a caller gives.

The address of its /metrics is read from its log (it listens on a free port), so every
instance, however many run side by side, is found without guessing ports.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import aiohttp

from testkit.metrics import Scrape
from testkit.process import ChildProcess
from testkit.tools import helm_bin, kubectl_bin
from testkit.waiting import Unmet, wait_for

START_LIMIT = 60.0
"""Seconds from launch to ready (caches synced): only bounds a failure."""
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
LISTENING = re.compile(r"serving /metrics, /healthz and /readyz on ([\w.:\[\]-]+)")


class OperatorProcess(ChildProcess):
    """One operator process (restartable): ``start`` = ``launch`` + ``ready``.

    ``work`` holds its log (``<name>.log``), its helm work dir and the chart cache (shared
    by every instance in ``work``, as a persistent volume would be). It listens on a free
    loopback port, elects no leader and runs ``helm_bin()`` (and ``kubectl_bin()`` for
    post-renderers); ``flags`` add to or override that (later flags win), and nothing else
    configures it. It must log at info level at
    least: the line naming its /metrics address is an info line.
    """

    def __init__(self, work: Path, *flags: str, kubeconfig: Path, name: str = "operator") -> None:
        helm_work = work / f"{name}-helm"
        helm_work.mkdir(parents=True, exist_ok=True)
        argv = (
            *(sys.executable, "-m", "controller", "run", "--kubeconfig", str(kubeconfig)),
            *("--listen", "127.0.0.1:0", "--no-leader-election", "--helm-bin", helm_bin()),
            *("--kubectl-bin", kubectl_bin()),
            *("--chart-cache-dir", str(work / "chart-cache"), "--work-dir", str(helm_work)),
            *flags,
        )
        super().__init__(argv, work / f"{name}.log", env=_flags_only_environment(), name=name)
        self.url: str | None = None
        """``http://HOST:PORT`` of its /metrics, /healthz and /readyz once ``ready``."""

    def launch(self) -> None:
        super().launch()
        self.url = None

    async def ready(self, within: float = START_LIMIT) -> None:
        """Wait until it serves and its caches are synced (leading or standing by)."""
        if self.url is None:
            address = await wait_for(self._listening, what=f"{self.name} to listen", within=within)
            self.url = f"http://{address}"
        await wait_for(self._is_ready, what=f"{self.name} to be ready", within=within)

    async def start(self) -> None:
        await super().start()
        await self.ready()

    async def metrics(self, *names: str) -> Scrape:
        """Its /metrics: every family, or only those ``names`` names (``name[]``)."""
        query = "&".join(f"name[]={name}" for name in names)
        return Scrape.parse(await self._get(f"/metrics?{query}" if query else "/metrics"))

    async def _listening(self) -> str | None:
        self.check_running()
        found = LISTENING.search(await self.logs_since_launch())
        return found[1] if found else None

    async def _is_ready(self) -> bool:
        self.check_running()
        try:
            await self._get("/readyz")
        except (aiohttp.ClientError, Unmet):
            return False
        return True

    async def _get(self, path: str) -> str:
        async with (
            aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
            session.get(f"{self.url}{path}") as response,
        ):
            text = await response.text()
            if response.status != 200:
                raise Unmet(f"{self.name}: {path} answered {response.status}: {text[:200]}")
            return text


def _flags_only_environment() -> dict[str, str]:
    """This process's environment without what would configure the operator besides its
    flags: ``HELMRELEASE_*`` settings and a ``KUBECONFIG`` pointing elsewhere."""
    return {
        key: value
        for key, value in os.environ.items()
        if key != "KUBECONFIG" and not key.startswith("HELMRELEASE_")
    }
