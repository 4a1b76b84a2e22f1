"""``python -m bench compare A.json B.json``: every figure the two runs share, with B / A.

Figures are matched by scenario and name (a name that carries N, workers or a count is a
different figure when those differ: only like is compared with like). A ratio above 1 is
more of that unit in B: slower, bigger, more requests; whether that is worse depends on
the figure, so the target is shown too. Figures only one run has are listed apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Compared:
    scenario: str
    name: str
    unit: str
    before: float
    after: float
    target: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.before == 0 else self.after / self.before


def load(path: Path) -> Mapping[str, Any]:
    data: Mapping[str, Any] = json.loads(path.read_text())
    return data


def compare(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[list[Compared], list[str]]:
    """The figures of both runs (in B's order), and the keys of those only one run has."""
    first = {(f["scenario"], f["name"]): f for f in before["figures"]}
    second = {(f["scenario"], f["name"]): f for f in after["figures"]}
    shared = [
        Compared(key[0], key[1], f["unit"], first[key]["measured"], f["measured"], f["target"])
        for key, f in second.items()
        if key in first and first[key]["unit"] == f["unit"]
    ]
    alone = sorted(
        f"{'A' if key in first else 'B'} only: {key[0]} / {key[1]}"
        for key in first.keys() ^ second.keys()
    )
    return shared, alone


def table(shared: Sequence[Compared], alone: Sequence[str], a: str, b: str) -> str:
    lines = [
        f"A = {a}",
        f"B = {b}",
        "",
        "| Scenario | Figure | Target | A | B | B / A |",
        "|---|---|---|---|---|---|",
    ]
    for row in shared:
        target = "" if row.target is None else f"<= {row.target:g} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.scenario} | {row.name} | {target} | {row.before:.3g} {row.unit} "
            f"| {row.after:.3g} {row.unit} | {ratio} |"
        )
    if alone:
        lines += ["", *alone]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench compare A.json B.json")
        return 2
    a, b = (Path(arg) for arg in argv)
    shared, alone = compare(load(a), load(b))
    print(table(shared, alone, a.name, b.name))
    return 0
