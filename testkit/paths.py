"""Where the project's files are, for code that runs from a checkout."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = ROOT / ".tools" / "bin"
"""The pinned helm 4, helm 3 and kubectl that ``make tools`` installs."""
CHARTS_DIR = ROOT / "tests" / "data" / "charts"
"""A Helm repository: index.yaml and the packaged charts it lists."""
CRDS_DIR = ROOT / "manifests" / "crds"
EXAMPLES_DIR = ROOT / "examples"
