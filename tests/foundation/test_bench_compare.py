"""``python -m bench compare A.json B.json``: like figures of two runs side by side, B / A."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.compare import compare, main


def run(*figures: tuple[str, str, float, str]) -> dict[str, object]:
    return {
        "figures": [
            {"scenario": s, "name": n, "measured": m, "unit": u, "target": 1.0, "note": ""}
            for s, n, m, u in figures
        ]
    }


def test_like_figures_are_compared_and_the_others_listed() -> None:
    before = run(("1 convergence", "N=100", 10.0, "s"), ("2 resync", "CPU", 0.5, "s"))
    after = run(("1 convergence", "N=100", 12.0, "s"), ("9 oci", "downloads", 1.0, "count"))
    shared, alone = compare(before, after)
    assert [(row.name, row.ratio) for row in shared] == [("N=100", 1.2)]
    assert alone == ["A only: 2 resync / CPU", "B only: 9 oci / downloads"]


def test_a_figure_whose_unit_changed_is_not_compared() -> None:
    shared, _ = compare(run(("s", "n", 1.0, "s")), run(("s", "n", 1000.0, "ms")))
    assert shared == []


def test_the_command_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(run(("1 convergence", "N=100", 10.0, "s"))))
    b.write_text(json.dumps(run(("1 convergence", "N=100", 9.0, "s"))))
    assert main([str(a), str(b)]) == 0
    printed = capsys.readouterr().out
    assert "| 1 convergence | N=100 | <= 1 s | 10 s | 9 s | 0.90 |" in printed
    assert main([str(a)]) == 2
