"""Fixtures of the metrics tests: the operator (real helm 4) as a child process on the
in-memory API server, with the project's CRDs registered before it starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit import OperatorProcess


@pytest.fixture
async def operator(crds: None, kubeconfig: Path, tmp_path: Path) -> AsyncIterator[OperatorProcess]:
    async with OperatorProcess(tmp_path, kubeconfig=kubeconfig) as running:
        yield running
