"""What the operator process made to start is kept out of the garbage collector's full
passes (each of which holds the event loop for as long as it walks the heap)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROGRAM = """
import gc, sys
from controller.__main__ import main
code = main(["run", "--kubeconfig", sys.argv[1], "--listen", "127.0.0.1:0"])
print(code, gc.get_freeze_count())
"""


def test_startup_objects_are_frozen_before_the_operator_runs(tmp_path: Path) -> None:
    missing = tmp_path / "no-kubeconfig"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    code, frozen = map(int, done.stdout.split())
    assert code == 2  # stopped at its first check, after the freeze
    assert frozen > 10_000  # the modules, classes and functions of the whole program
