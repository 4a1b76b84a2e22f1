"""The lock files of requirements/ and the venv made from them.

Covers: every package that requirements/dev.txt locks for this Python and platform is
installed at exactly the locked version (what `make venv` promises); every locked
package carries hashes, so `pip install --require-hashes` accepts each file alone;
runtime, dev and bench agree on every version they share, and each extends the one
before it; the locks satisfy the ranges of setup.cfg (a range changed without
`make lock` fails here) and name every requirement of it.
"""

from __future__ import annotations

import configparser
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
LOCKS = ("runtime", "dev", "bench")


def locked(name: str) -> dict[str, tuple[Requirement, list[str]]]:
    """Package name -> (its `name==version ; marker` requirement, its hashes)."""
    text = (REQUIREMENTS / f"{name}.txt").read_text()
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    # One entry: a requirement line ending in a backslash, then its --hash lines.
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        first, *rest = block.split("\n")
        if not first.strip() or first.startswith("#"):
            continue
        requirement = Requirement(first.rstrip(" \\"))
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", "\n".join(rest))
        entries[canonicalize_name(requirement.name)] = (requirement, hashes)
    return entries


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned"
    return specifier.version


def setup_cfg_requirements(section: str, key: str) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return [Requirement(line) for line in config[section][key].strip().splitlines()]


def installed() -> dict[str, str]:
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }


def test_the_venv_has_exactly_the_locked_dev_versions() -> None:
    versions = installed()
    wrong = {
        name: (pinned_version(requirement), versions.get(name, "missing"))
        for name, (requirement, _) in locked("dev").items()
        if requirement.marker is None or requirement.marker.evaluate()
        if versions.get(name) != pinned_version(requirement)
    }
    assert not wrong, f"(locked, installed) differ; run `make venv`: {wrong}"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_is_pinned_with_hashes(lock: str) -> None:
    entries = locked(lock)
    assert entries
    for name, (requirement, hashes) in entries.items():
        pinned_version(requirement)
        assert hashes, f"{name} has no hash in requirements/{lock}.txt"


@pytest.mark.parametrize(("smaller", "larger"), [("runtime", "dev"), ("dev", "bench")])
def test_each_lock_extends_the_one_before_at_the_same_versions(smaller: str, larger: str) -> None:
    small, large = locked(smaller), locked(larger)
    assert set(small) <= set(large)
    for name, (requirement, hashes) in small.items():
        # Versions and files agree; markers may differ (a dev tool may need on every
        # Python what the runtime needs on some only).
        assert pinned_version(large[name][0]) == pinned_version(requirement), name
        assert sorted(large[name][1]) == sorted(hashes), name


@pytest.mark.parametrize(
    ("lock", "section", "key"),
    [
        ("runtime", "options", "install_requires"),
        ("dev", "options.extras_require", "dev"),
        ("bench", "options.extras_require", "bench"),
    ],
)
def test_the_locks_satisfy_setup_cfg(lock: str, section: str, key: str) -> None:
    entries = locked(lock)
    for wanted in setup_cfg_requirements(section, key):
        name = canonicalize_name(wanted.name)
        assert name in entries, f"{wanted} of setup.cfg is not in requirements/{lock}.txt"
        version = pinned_version(entries[name][0])
        assert wanted.specifier.contains(version, prereleases=True), (
            f"requirements/{lock}.txt locks {name}=={version}, outside setup.cfg's {wanted}:"
            " run `make lock`"
        )


def test_the_runtime_lock_holds_only_what_the_package_needs() -> None:
    """No dev tool slips into what the image installs."""
    dev_only = {
        canonicalize_name(r.name) for r in setup_cfg_requirements("options.extras_require", "dev")
    }
    assert not dev_only & set(locked("runtime"))
