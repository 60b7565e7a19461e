"""The report's tables as files: CSV (numbers, for pandas, R or a spreadsheet) and LaTeX
(booktabs, the cells the markdown shows).

An ``ExportTable`` holds both views of one table: typed columns and rows (means, standard
deviations and counts in columns of their own, full float precision) for CSV, and the
display cells of ``calray.analysis.render`` for LaTeX, so a paper's table shows what
report.md shows. ``to_csv`` writes NaN and None as empty cells and booleans as
``true``/``false``; ``read_csv`` reads that back to the same values.

    tables = report_tables(report)
    Path("single_source.csv").write_text(to_csv(tables[0]))
    Path("single_source.tex").write_text(to_latex(tables[0]))
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from calray.analysis.render import (
    Cells,
    best_source_rows,
    comparison_rows,
    pareto_rows,
    single_source_rows,
    spearman_rows,
)
from calray.analysis.stats import SpearmanTable
from calray.analysis.tables import ComparisonRow, MixtureStats, SingleSourceTable

if TYPE_CHECKING:
    from calray.analysis.figures import FigureData
    from calray.analysis.report import Report

Kind = Literal["text", "number", "integer", "boolean"]
Value = str | float | int | bool | None


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = "number"


@dataclass(frozen=True)
class ExportTable:
    name: str  # file stem
    title: str  # the LaTeX caption
    columns: list[Column]
    rows: list[list[Value]]
    display: Cells  # (header, rows) of strings: what the markdown shows

    def column(self, name: str) -> list[Value]:
        index = [c.name for c in self.columns].index(name)
        return [r[index] for r in self.rows]


# --- the report's tables --------------------------------------------------------------------------
def single_source_export(table: SingleSourceTable) -> ExportTable:
    groups = [*table.dimensions, "total"]
    columns = [Column("source", "text"), Column("tag", "text"), *_stat_columns(groups), Column("seeds", "integer")]
    rows = [[m.label, table.tags.get(m.label), *_stat_values(m, groups), m.seeds] for m in table.sources]
    return ExportTable("single_source", "Retention per dimension when pruning on each calibration source alone "
                       "(pruned / dense x 100; mean and standard deviation over seeds).", columns, rows,
                       single_source_rows(table))


def best_source_export(table: SingleSourceTable) -> ExportTable:
    columns = [Column("dimension", "text"), Column("best_source", "text"), Column("retention"), Column("tag", "text"),
               Column("own_source", "boolean"), Column("own_sources", "text")]
    rows: list[list[Value]] = []
    for d in table.dimensions:
        b = table.best.get(d)
        rows.append([d, None, None, None, None, None] if b is None else
                    [d, b.source, b.retention, b.tag, b.own, " ".join(b.own_sources) or None])
    return ExportTable("best_source", "Best single source per dimension, and whether it is one of the dimension's own "
                       "sources.", columns, rows, best_source_rows(table))


def spearman_export(table: SpearmanTable, *, name: str = "spearman") -> ExportTable:
    """Long form (a row per metric and dimension) for CSV; the markdown's wide cells for LaTeX."""
    columns = [Column("metric", "text"), Column("dimension", "text"), Column("rho"), Column("p"), Column("q"),
               Column("n", "integer"), Column("missing", "integer"), Column("exact_p", "boolean"), Column("note", "text")]
    rows: list[list[Value]] = [[c.metric, c.dimension, c.rho, c.p, c.q, c.n, c.missing, c.exact, c.note or None]
                               for c in table.correlations]
    return ExportTable(name, f"Spearman rho between information metrics of the calibration set and retention "
                       f"({table.scope}; p two-sided, q Benjamini-Hochberg; * p < 0.05).", columns, rows, spearman_rows(table))


def comparison_export(rows: Sequence[ComparisonRow], dimensions: Sequence[str]) -> ExportTable:
    groups = [*dimensions, "total"]
    columns = [Column("row", "text"), Column("mixture", "text"), *_stat_columns(groups), Column("vs_best_single")]
    single = next((r.mixture for r in rows if r.what == "best single source"), None)
    base = single.mean("total") if single is not None else math.nan
    out: list[list[Value]] = []
    for r in rows:
        m = r.mixture
        if m is None:
            out.append([r.what, None, *([None] * 3 * len(groups)), None])
        else:
            out.append([r.what, m.label, *_stat_values(m, groups), m.mean("total") - base])
    return ExportTable("comparison", "Best mixture found vs the uniform mix vs the best single source vs the default source "
                       "(retention, mean and standard deviation over seeds).", columns, out, comparison_rows(rows, dimensions))


def pareto_export(front: Sequence[MixtureStats], dimensions: Sequence[str]) -> ExportTable:
    groups = [*dimensions, "total"]
    columns = [Column("mixture", "text"), *(Column(g) for g in groups)]
    rows: list[list[Value]] = [[m.label, *(m.mean(g) for g in groups)] for m in front]
    return ExportTable("pareto", "Mixtures that no other analysed mixture beats on every dimension (seed means).",
                       columns, rows, pareto_rows(front, dimensions))


def figure_export(figure: FigureData) -> ExportTable:
    """The numbers a figure draws, as a table (for the figures that plot more than a report table)."""
    from calray.analysis.figures import Scatter

    data = figure.data
    if not isinstance(data, Scatter):
        raise TypeError(f"figure {figure.name!r} draws a report table; export that table")
    columns = [Column("mixture", "text"), Column("single_source", "boolean"), Column("tag", "text"), Column(data.x),
               Column(data.y), Column("on_front", "boolean")]
    rows: list[list[Value]] = [[p.label, p.single, p.tag, p.x, p.y, p.front] for p in data.points]
    display = (["mixture", data.x, data.y, "on the front"],
               [[p.label, _fixed(p.x), _fixed(p.y), "yes" if p.front else ""] for p in data.points])
    return ExportTable(f"{figure.name}_{data.x}_{data.y}", figure.caption, columns, rows, display)


def report_tables(report: Report) -> list[ExportTable]:
    """Every table of the report, in its order."""
    out = [single_source_export(report.single), best_source_export(report.single), spearman_export(report.spearman)]
    if report.spearman_all is not None:
        out.append(spearman_export(report.spearman_all, name="spearman_all"))
    out += [comparison_export(report.comparison, report.dimensions), pareto_export(report.front, report.dimensions)]
    return out


def _stat_columns(groups: Sequence[str]) -> list[Column]:
    return [c for g in groups for c in (Column(g), Column(f"{g}_std"), Column(f"{g}_n", "integer"))]


def _stat_values(m: MixtureStats, groups: Sequence[str]) -> list[Value]:
    out: list[Value] = []
    for g in groups:
        stat = m.retention.get(g)
        out += [None, None, 0] if stat is None else [stat.mean, stat.std, stat.n]
    return out


def _fixed(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "n/a"


# --- CSV ------------------------------------------------------------------------------------------
def to_csv(table: ExportTable) -> str:
    """The table as CSV: a header of column names, then one line per row; floats in full
    precision (``repr``), NaN and None empty, booleans ``true``/``false``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def _csv_cell(value: Value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_csv(text: str, columns: Sequence[Column]) -> list[list[Value]]:
    """Rows of CSV written by ``to_csv``, each cell parsed by its column's kind (empty -> None)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if header != [c.name for c in columns]:
        raise ValueError(f"CSV header {header} is not {[c.name for c in columns]}")
    return [[_parse(cell, c.kind) for cell, c in zip(row, columns, strict=True)] for row in reader]


def _parse(cell: str, kind: Kind) -> Value:
    if cell == "":
        return None
    if kind == "number":
        return float(cell)
    if kind == "integer":
        return int(cell)
    if kind == "boolean":
        return {"true": True, "false": False}[cell]
    return cell


# --- LaTeX ----------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|n/a)( ± \d+(\.\d*)?)?( \(p=[^)]*\)\*?)?( n=\d+)?$|^-$")


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_cell(text: str) -> str:
    """A display cell in LaTeX: ``**x**`` bold, ``±`` as ``$\\pm$``, a significance ``*`` as a superscript."""
    bold = text.startswith("**") and text.endswith("**") and len(text) > 4
    body = text[2:-2] if bold else text
    body = latex_escape(body).replace("±", r"$\pm$").replace("*", r"$^{*}$")
    return rf"\textbf{{{body}}}" if bold else body


def to_latex(table: ExportTable, *, label_prefix: str = "tab:calray-") -> str:
    """A booktabs ``table`` environment of the display cells (needs ``\\usepackage{booktabs}``);
    columns whose every cell is a number are right-aligned."""
    header, rows = table.display
    align = "".join("r" if rows and all(_NUMERIC.match(_plain(r[i])) for r in rows) else "l" for i in range(len(header)))
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{{label_prefix}{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_cell(h) for h in header) + r" \\",
        r"\midrule",
        *(" & ".join(latex_cell(str(c)) for c in row) + r" \\" for row in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _plain(cell: Any) -> str:
    text = str(cell)
    return text[2:-2] if text.startswith("**") and text.endswith("**") else text
