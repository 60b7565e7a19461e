"""Write a report to disk: report.md with its figures embedded, and its tables as CSV and LaTeX.

Next to ``report.md`` go ``report_figures/<figure>.png`` and ``.svg`` (each embedded in the
markdown section it illustrates, with a one-line caption) and, when asked for,
``report_tables/<table>.csv`` and ``.tex``. Every file is written atomically (a temporary
file in the same folder, then renamed), so a reader never sees half a figure.

    report = build_report("sqlite:///mlflow.db", "calray", default="toy:web")
    publish(report, Path("report.md"), formats={"md", "csv", "tex"})

matplotlib is imported only here and in ``calray.analysis.figures``, never by
``import calray.analysis``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from calray.analysis.export import ExportTable, figure_export, report_tables, to_csv, to_latex
from calray.analysis.figures import (
    FigureData,
    comparison_figure,
    pareto_figure,
    render,
    retention_figure,
    spearman_figure,
)
from calray.analysis.load import dense_scores, open_experiment
from calray.analysis.report import Report
from calray.analysis.scaling import ScalingStudy, scaling_figure
from calray.atomic import write_atomic
from calray.errors import CalrayError

FORMATS = ("md", "csv", "tex")
# The report section each figure illustrates (Report.markdown's ``figures`` keys).
SECTION = {"retention": "sources", "spearman": "correlations", "comparison": "mixtures", "pareto": "front"}


@dataclass
class Published:
    markdown: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.figures)} figure files" if self.figures else "",
                 f"{len(self.tables)} table files" if self.tables else ""]
        extra = ", ".join(p for p in parts if p)
        return f"{self.markdown}" + (f" (+ {extra})" if extra else "")


def report_figures(report: Report, *, dense: Mapping[str, Mapping[str, float]] | None = None,
                   pareto: Sequence[str] | None = None) -> list[FigureData]:
    """The report's figures, in its order (the Pareto figure needs two dimensions)."""
    out = [retention_figure(report.single, dense=dense), spearman_figure(report.spearman),
           comparison_figure(report.headline_comparison(), report.single, dimensions=report.dimensions)]
    if len(report.dimensions) >= 2 or pareto is not None:
        out.append(pareto_figure(report.trials.rows, dimensions=report.dimensions, tags=report.trials.source_dimensions,
                                 axes=pareto))
    return out


def scan_dense_scores(report: Report) -> dict[str, dict[str, float]]:
    """The dense scores the report's (newest) scan recorded; empty when it recorded none."""
    if not report.scans:
        return {}
    tracker = open_experiment(report.trials.tracking_uri, report.trials.experiment)
    return dense_scores(tracker, max(report.scans, key=lambda s: s.start_time))


def publish(report: Report, out: str | Path, *, formats: Collection[str] = ("md",), figures: bool = True,
            command: str | None = None, pareto: Sequence[str] | None = None) -> Published:
    """Write ``out`` (markdown) and, beside it, the figures and the tables in ``formats``."""
    out = Path(out)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise CalrayError(f"unknown table formats {sorted(unknown)}; use {', '.join(FORMATS)}")
    done = Published(out)
    blocks: dict[str, str] = {}
    drawn: list[FigureData] = []
    if figures:
        drawn = report_figures(report, dense=scan_dense_scores(report), pareto=pareto)
        blocks, done.figures = write_figures(drawn, out)
    write_atomic(out, report.markdown(command=command, figures=blocks).encode())
    tables = report_tables(report) + [figure_export(f) for f in drawn if f.name == "pareto"]
    done.tables = write_tables(tables, out, formats)
    return done


def publish_scaling(study: ScalingStudy, out: str | Path, *, formats: Collection[str] = ("md",), figures: bool = True,
                    command: str | None = None) -> Published:
    """Write a scaling study's report ``out``, its figure and (in ``formats``) its tables."""
    out = Path(out)
    done = Published(out)
    blocks: dict[str, str] = {}
    if figures:
        blocks, done.figures = write_figures([scaling_figure(study)], out)
    write_atomic(out, study.markdown(command=command, figures=blocks).encode())
    done.tables = write_tables(study.tables(), out, formats)
    return done


def write_figures(drawn: Sequence[FigureData], out: Path, *, first: int = 1) -> tuple[dict[str, str], list[Path]]:
    """Render each figure beside ``out`` (PNG and SVG); the markdown block that embeds each,
    by its section, and the files written."""
    folder = out.parent / f"{out.stem}_figures"
    blocks: dict[str, str] = {}
    written = []
    for number, figure in enumerate(drawn, first):
        for fmt, data in render(figure).items():
            path = folder / f"{figure.name}.{fmt}"
            write_atomic(path, data)
            written.append(path)
        blocks[SECTION.get(figure.name, figure.name)] = figure_markdown(figure, number, f"{folder.name}/{figure.name}")
    return blocks, written


def figure_markdown(figure: FigureData, number: int, stem: str) -> str:
    """The figure's PNG embedded, then its one-line caption with a link to the SVG."""
    caption = figure.caption.replace("*", r"\*")
    return f"![{figure.title}]({stem}.png)\n\n**Figure {number}.** {caption} ([SVG]({stem}.svg))"


def write_tables(tables: Sequence[ExportTable], out: Path, formats: Collection[str]) -> list[Path]:
    folder = out.parent / f"{out.stem}_tables"
    written = []
    for table in tables:
        for fmt, text in (("csv", to_csv), ("tex", to_latex)):
            if fmt in formats:
                path = folder / f"{table.name}.{fmt}"
                write_atomic(path, text(table).encode())
                written.append(path)
    return written
