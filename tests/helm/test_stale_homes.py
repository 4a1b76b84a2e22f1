"""Work directories of operators that are gone are removed at start-up.

A SIGKILL in the middle of an upgrade leaves the private helm home behind, values file
(secrets) included. The next operator removes every home whose owner is gone (its lock
can be taken), and leaves alone the home of an operator that still runs (a second replica
sharing the directory) and any directory that is not a home of ours.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from controller.helm import HelmRunner
from controller.settings import HelmSettings

LEAVE_A_HOME = """
import signal, sys
from pathlib import Path
from controller.helm import _private_home
home, _ = _private_home(Path(sys.argv[1]))
(home / "values-1").mkdir()
(home / "values-1" / "values.yaml").write_text("password: secret")
print(home, flush=True)
signal.pause()  # holds its home's lock until it is killed
"""


async def killed_operators_home(work_dir: Path) -> Path:
    """The home of an operator process that was SIGKILLed after writing a values file."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LEAVE_A_HOME, str(work_dir), stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    home = Path((await process.stdout.readline()).decode().strip())
    process.send_signal(signal.SIGKILL)
    await process.wait()
    return home


async def test_homes_of_operators_that_are_gone_are_removed(tmp_path: Path) -> None:
    left = await killed_operators_home(tmp_path)
    assert (left / "values-1" / "values.yaml").exists()
    not_ours = tmp_path / "helm-charts"
    not_ours.mkdir()
    live = HelmRunner(HelmSettings(work_dir=tmp_path), {})
    starting = HelmRunner(HelmSettings(work_dir=tmp_path), {})
    try:
        live_home = await live._private_home()
        assert await starting.remove_stale_homes() == 1
        assert not left.exists()
        assert live_home.exists()  # its operator runs: its lock is held
        assert not_ours.exists()  # no lock file of ours: not ours
    finally:
        await live.close()
        await starting.close()
    assert not live_home.exists()


async def test_nothing_to_remove_is_no_work(tmp_path: Path) -> None:
    runner = HelmRunner(HelmSettings(work_dir=tmp_path / "absent"), {})
    assert await runner.remove_stale_homes() == 0
