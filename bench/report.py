"""Results of a bench run and how they are written: JSON, a Markdown summary, a PNG plot."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as PlotFigure

MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    """One measured number, with the target it is held against (an upper bound) if any."""

    scenario: str
    name: str
    measured: float
    unit: str
    target: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """measured / target: at most 1 meets the target."""
        if self.target is None or self.target == 0:
            return None
        return self.measured / self.target


@dataclass(frozen=True)
class Curve:
    """When each release of one run became Ready, in seconds from the start of the run."""

    label: str
    releases: int
    workers: int
    who: str
    """``operator`` or ``baseline`` (bare helm)."""
    round: int
    ready_at: tuple[float, ...]


@dataclass
class Results:
    machine: dict[str, Any]
    started: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)
    """Scenario -> how its figures are measured."""
    plan: dict[str, Any] = field(default_factory=dict)
    duration: float = 0.0

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def note(self, text: str) -> None:
        self.notes.append(text)


def _format(value: float, unit: str) -> str:
    if unit == "count":
        return f"{value:.0f}"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.3g} {unit}"


def _ratio(figure: Figure) -> str:
    if figure.target == 0:  # a ratio to zero means nothing: say whether it was met
        return "met" if figure.measured == 0 else "missed"
    return "" if figure.ratio is None else f"{figure.ratio:.2f}"


def markdown(results: Results) -> str:
    m = results.machine
    lines = [
        f"# Benchmarks {results.started}{' (quick)' if results.quick else ''}",
        "",
        f"Machine: {m['cpus_usable']} of {m['cpu_count']} CPUs ({m['cpu_model']}), "
        f"{m['memory_bytes'] / MIB / 1024:.1f} GiB RAM, load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])}; {m['platform']}; "
        f"Python {m['python']}; helm {m['helm']} (helm 3: {m['helm3']}); kubectl {m['kubectl']}. "
        f"Run time {results.duration:.0f} s.",
        "",
        "| Scenario | Figure | Target | Measured | Ratio |",
        "|---|---|---|---|---|",
    ]
    for f in sorted(results.figures, key=lambda f: f.scenario):  # stable: measured order
        target = "" if f.target is None else f"<= {_format(f.target, f.unit)}"
        ratio = _ratio(f)
        name = f"{f.name} ({f.note})" if f.note else f.name
        lines.append(
            f"| {f.scenario} | {name} | {target} | {_format(f.measured, f.unit)} | {ratio} |"
        )
    if results.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {text}" for text in results.notes]
    if results.methods:
        lines += ["", "## How the figures are measured", ""]
        lines += [f"- **{name}**: {text}" for name, text in sorted(results.methods.items())]
    return "\n".join(lines) + "\n"


def plot(curves: Sequence[Curve], path: Path) -> None:
    """Releases Ready over time, one panel per number of releases, operator vs baseline.

    A colour per (workers, round); operator solid, baseline dashed.
    """
    sizes = sorted({curve.releases for curve in curves})
    figure = PlotFigure(figsize=(6 * len(sizes), 4.5))  # no pyplot: no global state, no display
    axes = figure.subplots(1, len(sizes), squeeze=False)
    runs = sorted({(curve.workers, curve.round) for curve in curves})
    colours = {run: f"C{i}" for i, run in enumerate(runs)}
    for axis, size in zip(axes[0], sizes, strict=True):
        for curve in (c for c in curves if c.releases == size):
            times = [0.0, *sorted(curve.ready_at)]
            axis.step(
                times,
                range(len(times)),
                where="post",
                color=colours[curve.workers, curve.round],
                linestyle="-" if curve.who == "operator" else "--",
                label=curve.label,
            )
        axis.set_title(f"{size} HelmReleases")
        axis.set_xlabel("seconds")
        axis.set_ylabel("releases Ready")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _write(results: Results, directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = dataclasses.asdict(results)
    for figure, row in zip(results.figures, data["figures"], strict=True):
        row["ratio"] = figure.ratio
    (directory / f"{stamp}.json").write_text(json.dumps(data, indent=2) + "\n")
    summary = directory / f"{stamp}.md"
    summary.write_text(markdown(results))
    shutil.copyfile(summary, directory / "latest.md")
    if results.curves:
        plot(results.curves, directory / f"{stamp}.png")
        shutil.copyfile(directory / f"{stamp}.png", directory / "latest.png")
    return summary


async def write(results: Results, directory: Path, stamp: str) -> Path:
    """Write ``<stamp>.json``, ``<stamp>.md``, ``<stamp>.png`` (and ``latest.*`` copies)."""
    return await asyncio.to_thread(_write, results, directory, stamp)
